// Real C functions for OpenSSL/libsasl2 macros that Swift cannot import.
// No logic lives here: each function is a one-line forward.
#ifndef CMAILTUNNEL_SHIMS_H
#define CMAILTUNNEL_SHIMS_H

#include <stdint.h>
#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <sasl/sasl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

// SSL_OP_* are built with SSL_OP_BIT(), which Swift does not import.
uint64_t mt_ssl_op_no_compression(void);
uint64_t mt_ssl_op_no_renegotiation(void);
uint64_t mt_ssl_op_allow_client_renegotiation(void);
uint64_t mt_ssl_op_cipher_server_preference(void);
uint64_t mt_ssl_op_no_ticket(void);
uint64_t mt_ssl_op_ignore_unexpected_eof(void);
uint64_t mt_ssl_op_no_sslv3(void);
uint64_t mt_ssl_op_no_tlsv1(void);
uint64_t mt_ssl_op_no_tlsv1_1(void);

int mt_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
long mt_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
long mt_SSL_set_mode(SSL *ssl, long mode);
long mt_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
long mt_SSL_CTX_add_extra_chain_cert(SSL_CTX *ctx, X509 *x509);
long mt_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
long mt_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *));
long mt_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg);
long mt_BIO_get_mem_data(BIO *bio, char **pp);

// XN_FLAG_RFC2253 is an expression of several macros.
unsigned long mt_xn_flag_rfc2253(void);

// EVP_EC_gen is a variadic macro.
EVP_PKEY *mt_EVP_EC_gen_p256(void);

// OpenSSL stack accessors are macros over OPENSSL_sk_*.
int mt_sk_X509_num(const STACK_OF(X509) *sk);
X509 *mt_sk_X509_value(const STACK_OF(X509) *sk, int i);
void mt_sk_X509_pop_free(STACK_OF(X509) *sk);
int mt_sk_GENERAL_NAME_num(const GENERAL_NAMES *sk);
GENERAL_NAME *mt_sk_GENERAL_NAME_value(const GENERAL_NAMES *sk, int i);
void mt_GENERAL_NAMES_free(GENERAL_NAMES *names);
int mt_sk_X509_CRL_num(const STACK_OF(X509_CRL) *sk);

// GENERAL_NAME's union members, read without Swift touching the union layout.
int mt_GENERAL_NAME_type(const GENERAL_NAME *name);
const ASN1_IA5STRING *mt_GENERAL_NAME_ia5(const GENERAL_NAME *name);

// libsasl2's callback table entries are a struct of function pointers cast to int(*)(void).
sasl_callback_t *mt_sasl_callbacks_new(void *context,
    int (*getopt)(void *, const char *, const char *, const char **, unsigned *),
    int (*getpath)(void *, const char **));
void mt_sasl_callbacks_free(sasl_callback_t *cbs);

// Linux socket calls Glibc's Swift module does not export.
int mt_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int mt_sock_nonblock(void);
int mt_sock_cloexec(void);
ssize_t mt_send_nosignal(int fd, const void *buf, size_t len);

#endif
