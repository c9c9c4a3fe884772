#ifndef MAILTUNNEL_CSASL_SHIM_H
#define MAILTUNNEL_CSASL_SHIM_H
#include <sasl/sasl.h>
#include <sasl/saslutil.h>
#endif
