/* SPDX-License-Identifier: MIT */
/*
 * httparena-datagen OUTDIR: write dataset.json, dataset-int.json,
 * dataset-large.json and benchmark.db into OUTDIR, deterministically
 * (the same bytes on every run and machine).
 */
#include "data.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	char err[512];
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	if (data_generate_dir(argv[1], true, err, sizeof(err))) {
		fprintf(stderr, "httparena-datagen: %s\n", err);
		return 1;
	}
	return 0;
}
