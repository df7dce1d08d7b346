/* libcurl.so.4 as libmesos 1.11 was linked against it: the same functions
 * under the symbol version CURL_OPENSSL_3, forwarded to the system's libcurl
 * (which versions them CURL_OPENSSL_4). Only Mesos' fetcher uses curl. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void* real(const char* name) {
  static void* lib;
  if (!lib) {
    lib = dlopen(SYSTEM_LIBCURL, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      fprintf(stderr, "curl shim: %s\n", dlerror());
      abort();
    }
  }
  void* sym = dlsym(lib, name);
  if (!sym) {
    fprintf(stderr, "curl shim: no %s in %s\n", name, SYSTEM_LIBCURL);
    abort();
  }
  return sym;
}

typedef int code;
code curl_global_init(long flags) {
  return ((code(*)(long))real("curl_global_init"))(flags);
}
void* curl_easy_init(void) { return ((void* (*)(void))real("curl_easy_init"))(); }
void curl_easy_cleanup(void* h) { ((void (*)(void*))real("curl_easy_cleanup"))(h); }
code curl_easy_perform(void* h) { return ((code(*)(void*))real("curl_easy_perform"))(h); }
const char* curl_easy_strerror(code c) {
  return ((const char* (*)(code))real("curl_easy_strerror"))(c);
}
/* Every option and info argument is a long, a pointer or a curl_off_t: one
 * 64-bit register on x86_64, so forwarding it as a pointer is exact. */
code curl_easy_setopt(void* h, int option, ...) {
  va_list ap;
  va_start(ap, option);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return ((code(*)(void*, int, void*))real("curl_easy_setopt"))(h, option, arg);
}
code curl_easy_getinfo(void* h, int info, ...) {
  va_list ap;
  va_start(ap, info);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return ((code(*)(void*, int, void*))real("curl_easy_getinfo"))(h, info, arg);
}
