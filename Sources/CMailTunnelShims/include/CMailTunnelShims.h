// Real C functions for OpenSSL/libsasl2 macros that Swift cannot import, and only those the Swift code calls.
// No logic lives here: each function is a one-line forward. (Linux calls are in CMailTunnelLinux.)
#ifndef CMAILTUNNEL_SHIMS_H
#define CMAILTUNNEL_SHIMS_H

#include <stdint.h>
#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <sasl/sasl.h>

// SSL_OP_* are built with SSL_OP_BIT(), which Swift does not import.
uint64_t mt_ssl_op_no_compression(void);
uint64_t mt_ssl_op_no_renegotiation(void);
uint64_t mt_ssl_op_allow_client_renegotiation(void);
uint64_t mt_ssl_op_cipher_server_preference(void);
uint64_t mt_ssl_op_no_sslv3(void);
uint64_t mt_ssl_op_no_tlsv1(void);
uint64_t mt_ssl_op_no_tlsv1_1(void);

// SSL_CTX_ctrl wrappers that OpenSSL defines as macros.
int mt_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
long mt_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
long mt_SSL_set_mode(SSL *ssl, long mode);
long mt_SSL_clear_mode(SSL *ssl, long mode);
long mt_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
long mt_SSL_CTX_set_read_ahead(SSL_CTX *ctx, int yes);
long mt_BIO_get_mem_data(BIO *bio, char **pp);
// Adds to the chain of the certificate slot set last (RSA and ECDSA each keep their own chain); owns x509 on success.
long mt_SSL_CTX_add0_chain_cert(SSL_CTX *ctx, X509 *x509);

// SNI and OCSP stapling callbacks (SSL_CTX_callback_ctrl / SSL_ctrl macros).
long mt_SSL_CTX_set_servername_callback(SSL_CTX *ctx, int (*callback)(SSL *, int *, void *), void *arg);
long mt_SSL_CTX_set_status_callback(SSL_CTX *ctx, int (*callback)(SSL *, void *), void *arg);
long mt_SSL_set_ocsp_response(SSL *ssl, unsigned char *der, long length);
// The chain of the certificate slot set last, and the stack accessors for it.
STACK_OF(X509) *mt_SSL_CTX_get0_chain_certs(SSL_CTX *ctx);
int mt_sk_X509_num(const STACK_OF(X509) *sk);
X509 *mt_sk_X509_value(const STACK_OF(X509) *sk, int i);

// XN_FLAG_RFC2253 is an expression of several macros.
unsigned long mt_xn_flag_rfc2253(void);

// EVP_EC_gen is a variadic macro.
EVP_PKEY *mt_EVP_EC_gen_p256(void);

// OpenSSL stack accessors are macros over OPENSSL_sk_*.
int mt_sk_GENERAL_NAME_num(const GENERAL_NAMES *sk);
GENERAL_NAME *mt_sk_GENERAL_NAME_value(const GENERAL_NAMES *sk, int i);
void mt_GENERAL_NAMES_free(GENERAL_NAMES *names);

// GENERAL_NAME's union members, read without Swift touching the union layout.
int mt_GENERAL_NAME_type(const GENERAL_NAME *name);
const ASN1_IA5STRING *mt_GENERAL_NAME_ia5(const GENERAL_NAME *name);

// libsasl2's callback table entries are a struct of function pointers cast to int(*)(void).
// The table lives as long as the process (libsasl2 keeps the pointer), so it has no free function.
sasl_callback_t *mt_sasl_callbacks_new(void *context,
    int (*getopt)(void *, const char *, const char *, const char **, unsigned *),
    int (*getpath)(void *, const char **));

#endif
