// A real Apache Mesos 1.11 master and agent(s) in one process, for the
// conformance tests only: the equivalent of Mesos' own `mesos-local`
// (src/local/main.cpp), linked against the libmesos that PyPI's
// mesos.scheduler 1.11.0 wheel carries inside its Python 2.7 extension.
//
// We have no Mesos headers, so the few entry points we call are declared by
// their mangled names. Every call follows the Itanium C++ ABI: a class
// returned by value comes back through a hidden pointer in the first
// argument register, ahead of `this`. The offsets below were read off this
// exact build (build.sh pins it by sha256).
//
// Configuration is Mesos' own: MESOS_* environment variables, loaded by
// local::launch for the master and every agent (src/local/local.cpp).
// MESOS_NUM_SLAVES and MESOS_WORK_DIR are local::Flags; LIBPROCESS_IP and
// LIBPROCESS_PORT choose the listening address.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

// Data symbols that the Python extension references; nothing reads them
// outside the Python bindings, which we never call.
extern "C" {
__attribute__((visibility("default"))) char _Py_NoneStruct[64];
__attribute__((visibility("default"))) void* PyExc_Exception = nullptr;
__attribute__((visibility("default"))) void* PyExc_TypeError = nullptr;
}

namespace kube_mesos_test {

// stout's Option<std::string>: a State enum (SOME = 0, NONE = 1), then the value.
struct OptionString {
  int state;
  std::string value;
};

// Large enough for any value these calls return (Try<Warnings>, PID<Master>);
// we never destroy them, the process lives until it is killed.
struct Returned {
  alignas(16) char bytes[4096];
};

}  // namespace kube_mesos_test
using namespace kube_mesos_test;

extern void local_flags_ctor(void* self) __asm__("_ZN5mesos8internal5local5FlagsC1Ev");
extern Returned flags_load_env(void* flags_base, const std::string& prefix) __asm__(
    "_ZN5flags9FlagsBase4loadERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE");
extern Returned local_launch(const void* flags, void* allocator) __asm__(
    "_ZN5mesos8internal5local6launchERKNS1_5FlagsEPNS_9allocator9AllocatorE");
extern bool process_initialize(const OptionString& delegate, const OptionString& rw_realm,
                               const OptionString& ro_realm) __asm__(
    "_ZN7process10initializeERK6OptionINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEES9_S9_");
extern void logging_initialize(const std::string& argv0, bool install_failure_handler,
                               const void* flags) __asm__(
    "_ZN5mesos8internal7logging10initializeERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEbRK6OptionINS1_5FlagsEE");

// Offset of the virtual FlagsBase inside local::Flags (its constructor
// builds FlagsBase at this+0xb8).
static const size_t kLocalFlagsBaseOffset = 0xb8;

int main(int argc, char** argv) {
  (void)argc;
  // An Option<logging::Flags> that is None: logging goes to stderr.
  alignas(16) static char no_logging_flags[4096];
  std::memset(no_logging_flags, 0, sizeof no_logging_flags);
  *reinterpret_cast<int*>(no_logging_flags) = 1;
  logging_initialize(std::string(argv[0]), false, no_logging_flags);

  alignas(16) static char flags[16384];
  std::memset(flags, 0, sizeof flags);
  local_flags_ctor(flags);
  flags_load_env(flags + kLocalFlagsBaseOffset, std::string("MESOS_"));

  // The delegate answers unprefixed paths (/api/v1/scheduler) as the master,
  // as mesos-local does; the agent stays reachable as /slave(1)/...
  const char* delegate = std::getenv("KUBE_MESOS_TEST_DELEGATE");
  OptionString some_delegate{0, std::string(delegate ? delegate : "master")};
  OptionString none{1, std::string()};
  if (!process_initialize(some_delegate, none, none)) {
    std::fprintf(stderr, "mesos-local: libprocess failed to initialize\n");
    return 1;
  }

  local_launch(flags, nullptr);
  std::fprintf(stderr, "mesos-local: launched\n");
  for (;;) pause();
}
