#include "CDigest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/evp.h>

struct fp_sha256_ctx { EVP_MD_CTX *md; };

fp_sha256_ctx *fp_sha256_new(void) {
  fp_sha256_ctx *ctx = malloc(sizeof *ctx);
  if (!ctx) return NULL;
  ctx->md = EVP_MD_CTX_new();
  if (!ctx->md || EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) != 1) {
    fp_sha256_free(ctx);
    return NULL;
  }
  return ctx;
}

int fp_sha256_update(fp_sha256_ctx *ctx, const void *bytes, size_t count) {
  return EVP_DigestUpdate(ctx->md, bytes, count) == 1 ? 0 : -1;
}

int fp_sha256_update_file(fp_sha256_ctx *ctx, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return errno ? errno : -1;
  static const size_t chunk = 1 << 20;
  unsigned char *buf = malloc(chunk);
  if (!buf) { fclose(f); return ENOMEM; }
  int status = 0;
  size_t n;
  while ((n = fread(buf, 1, chunk, f)) > 0) {
    if (EVP_DigestUpdate(ctx->md, buf, n) != 1) { status = -1; break; }
  }
  if (status == 0 && ferror(f)) status = errno ? errno : EIO;
  free(buf);
  fclose(f);
  return status;
}

int fp_sha256_finish(fp_sha256_ctx *ctx, char hex[65]) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  int ok = EVP_DigestFinal_ex(ctx->md, digest, &len) == 1 && len == 32;
  fp_sha256_free(ctx);
  if (!ok) return -1;
  static const char digits[] = "0123456789abcdef";
  for (unsigned int i = 0; i < 32; i++) {
    hex[2 * i] = digits[digest[i] >> 4];
    hex[2 * i + 1] = digits[digest[i] & 15];
  }
  hex[64] = 0;
  return 0;
}

void fp_sha256_free(fp_sha256_ctx *ctx) {
  if (!ctx) return;
  if (ctx->md) EVP_MD_CTX_free(ctx->md);
  free(ctx);
}
