/* A library that needs libssl, as PHP's curl.so does. */
#include <openssl/ssl.h>

void *ssl_write_address(void)
{
    return (void *)&SSL_write;
}
