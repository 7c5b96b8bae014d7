/* SPDX-License-Identifier: MIT */
/* The TLS tests' certificate: a self-signed P-256 pair for CN=localhost
 * (subjectAltName DNS:localhost, for the hostname checks), valid a day,
 * made by openssl(1) in a fresh temporary directory. Header-only; the
 * unit and integration tests include it as "../tls_cert.h". */
#ifndef ZG_TESTS_TLS_CERT_H
#define ZG_TESTS_TLS_CERT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* dir: a mkdtemp(3) template, filled in; cert and key get the paths.
 * false when openssl(1) could not make them (the test then skips). */
static inline bool tls_cert_make(char *dir, char *cert, size_t cert_len, char *key,
				 size_t key_len)
{
	char cmd[512];

	if (!mkdtemp(dir))
		return false;
	snprintf(cert, cert_len, "%s/cert.pem", dir);
	snprintf(key, key_len, "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
		 "-keyout %s -out %s >/dev/null 2>&1", key, cert);
	return system(cmd) == 0;
}

static inline void tls_cert_remove(const char *dir, const char *cert, const char *key)
{
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

#endif
