/* SPDX-License-Identifier: MIT */
/* httparena-server: the item of SPEC-HEAD.md 6.2 from a PostgreSQL row
 * (asyncdb.c): for /async-db and crud's items. */
#ifndef PGITEM_H
#define PGITEM_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* The statements' column list (id, name, category, price, quantity,
 * active, tags, rating_score, rating_count: db.h's DB_ASYNC_RANGE,
 * DB_CRUD_GET, DB_CRUD_LIST), in text format: false for any other. */
bool pgitem_columns_ok(const PGresult *res);
/* Row i as {"id":..,"name":..,"category":..,"price":..,"quantity":..,
 * "active":..,"tags":[..],"rating":{"score":..,"count":..}} into out of
 * at least pgitem_bound() bytes; returns the end. */
size_t pgitem_bound(const PGresult *res, int i);
char *pgitem_write(char *out, const PGresult *res, int i);
/* Every row of res as {"items":[item,item...] (the object left open for
 * the list's other members: async-db's count, crud's total, page and
 * limit) into out of at least pgitem_list_bound() bytes; returns the end. */
size_t pgitem_list_bound(const PGresult *res);
char *pgitem_list(char *out, const PGresult *res);

#endif
