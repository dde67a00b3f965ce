// SHA-256 of files and byte strings through OpenSSL's libcrypto (Debian libssl-dev), for the
// run manifests of sharded runs (a shard of one run is never merged with another run's).
#ifndef FP_CDIGEST_H
#define FP_CDIGEST_H

#include <stddef.h>

// Feeds the bytes of `path` into a running digest. Returns 0, or an errno value (or -1 when
// libcrypto fails).
typedef struct fp_sha256_ctx fp_sha256_ctx;
fp_sha256_ctx *fp_sha256_new(void);
int fp_sha256_update(fp_sha256_ctx *ctx, const void *bytes, size_t count);
int fp_sha256_update_file(fp_sha256_ctx *ctx, const char *path);
// Writes 64 lower-case hex digits and a NUL into hex[65] and frees ctx.
int fp_sha256_finish(fp_sha256_ctx *ctx, char hex[65]);
void fp_sha256_free(fp_sha256_ctx *ctx);

#endif
