#include "CMailTunnelShims.h"
#include <stdlib.h>
#include <openssl/bio.h>
#include <openssl/ec.h>

uint64_t mt_ssl_op_no_compression(void) { return SSL_OP_NO_COMPRESSION; }
uint64_t mt_ssl_op_no_renegotiation(void) { return SSL_OP_NO_RENEGOTIATION; }
uint64_t mt_ssl_op_allow_client_renegotiation(void) { return SSL_OP_ALLOW_CLIENT_RENEGOTIATION; }
uint64_t mt_ssl_op_cipher_server_preference(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
uint64_t mt_ssl_op_no_sslv3(void) { return SSL_OP_NO_SSLv3; }
uint64_t mt_ssl_op_no_tlsv1(void) { return SSL_OP_NO_TLSv1; }
uint64_t mt_ssl_op_no_tlsv1_1(void) { return SSL_OP_NO_TLSv1_1; }

int mt_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
long mt_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
long mt_SSL_set_mode(SSL *ssl, long mode) { return SSL_set_mode(ssl, mode); }
long mt_SSL_clear_mode(SSL *ssl, long mode) { return SSL_clear_mode(ssl, mode); }
long mt_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
long mt_SSL_CTX_set_read_ahead(SSL_CTX *ctx, int yes) { return SSL_CTX_set_read_ahead(ctx, yes); }
long mt_BIO_get_mem_data(BIO *bio, char **pp) { return BIO_get_mem_data(bio, pp); }
long mt_SSL_CTX_add0_chain_cert(SSL_CTX *ctx, X509 *x509) { return SSL_CTX_add0_chain_cert(ctx, x509); }

long mt_SSL_CTX_set_servername_callback(SSL_CTX *ctx, int (*callback)(SSL *, int *, void *), void *arg) {
    SSL_CTX_set_tlsext_servername_arg(ctx, arg);
    return SSL_CTX_set_tlsext_servername_callback(ctx, callback);
}
long mt_SSL_CTX_set_status_callback(SSL_CTX *ctx, int (*callback)(SSL *, void *), void *arg) {
    SSL_CTX_set_tlsext_status_arg(ctx, arg);
    return SSL_CTX_set_tlsext_status_cb(ctx, callback);
}
long mt_SSL_set_ocsp_response(SSL *ssl, unsigned char *der, long length) { return SSL_set_tlsext_status_ocsp_resp(ssl, der, length); }
STACK_OF(X509) *mt_SSL_CTX_get0_chain_certs(SSL_CTX *ctx) {
    STACK_OF(X509) *chain = NULL;
    return SSL_CTX_get0_chain_certs(ctx, &chain) == 1 ? chain : NULL;
}
int mt_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
X509 *mt_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }

EVP_PKEY *mt_EVP_EC_gen_p256(void) { return EVP_EC_gen("P-256"); }

int mt_sk_GENERAL_NAME_num(const GENERAL_NAMES *sk) { return sk_GENERAL_NAME_num(sk); }
GENERAL_NAME *mt_sk_GENERAL_NAME_value(const GENERAL_NAMES *sk, int i) { return sk_GENERAL_NAME_value(sk, i); }
void mt_GENERAL_NAMES_free(GENERAL_NAMES *names) { GENERAL_NAMES_free(names); }

int mt_GENERAL_NAME_type(const GENERAL_NAME *name) { return name->type; }
const ASN1_IA5STRING *mt_GENERAL_NAME_ia5(const GENERAL_NAME *name) {
    switch (name->type) {
    case GEN_EMAIL: return name->d.rfc822Name;
    case GEN_DNS: return name->d.dNSName;
    case GEN_URI: return name->d.uniformResourceIdentifier;
    default: return NULL;
    }
}

sasl_callback_t *mt_sasl_callbacks_new(void *context,
    int (*getopt)(void *, const char *, const char *, const char **, unsigned *),
    int (*getpath)(void *, const char **)) {
    sasl_callback_t *cbs = calloc(3, sizeof(sasl_callback_t));
    if (!cbs) return NULL;
    int i = 0;
    if (getopt) { cbs[i].id = SASL_CB_GETOPT; cbs[i].proc = (int (*)(void))getopt; cbs[i].context = context; i++; }
    if (getpath) { cbs[i].id = SASL_CB_GETCONFPATH; cbs[i].proc = (int (*)(void))getpath; cbs[i].context = context; i++; }
    cbs[i].id = SASL_CB_LIST_END;
    return cbs;
}
unsigned long mt_xn_flag_rfc2253(void) { return XN_FLAG_RFC2253; }

