// The `mesos-containerizer` helper that a Mesos agent runs from its
// --launcher_dir to start every executor: only its `launch` subcommand,
// which runs libmesos' own MesosContainerizerLaunch::execute() exactly as
// Mesos' src/slave/containerizer/mesos/main.cpp dispatches it. See
// mesos_local.cpp for how the mangled entry points are called.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

extern "C" {
__attribute__((visibility("default"))) char _Py_NoneStruct[64];
__attribute__((visibility("default"))) void* PyExc_Exception = nullptr;
__attribute__((visibility("default"))) void* PyExc_TypeError = nullptr;
}

namespace kube_mesos_test {
struct OptionString {
  int state;
  std::string value;
};
struct Returned {
  alignas(16) char bytes[4096];
};
// Try<Warnings> as stout lays it out starts with Option<Warnings>'s state;
// an Error is held as Option<Error> after it. We only read "is it an error"
// through the failure text libmesos prints itself, so the bytes stay opaque.
}  // namespace kube_mesos_test
using namespace kube_mesos_test;

extern void launch_flags_ctor(void* self) __asm__(
    "_ZN5mesos8internal5slave24MesosContainerizerLaunch5FlagsC1Ev");
extern Returned flags_load_argv(void* flags_base, const OptionString& prefix, int argc,
                                const char* const* argv, bool unknowns, bool duplicates) __asm__(
    "_ZN5flags9FlagsBase4loadERK6OptionINSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEEEiPKPKcbb");
extern int launch_execute(void* self) __asm__(
    "_ZN5mesos8internal5slave24MesosContainerizerLaunch7executeEv");

// MesosContainerizerLaunch is a Subcommand whose `flags` member sits at 0xE0.
static const size_t kLaunchFlagsOffset = 0xE0;

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "launch") != 0) {
    std::fprintf(stderr, "mesos-containerizer (test build): only 'launch' is available\n");
    return 1;
  }
  alignas(16) static char launch[16384];
  std::memset(launch, 0, sizeof launch);
  char* flags = launch + kLaunchFlagsOffset;
  launch_flags_ctor(flags);
  // The virtual FlagsBase's offset is the vbase offset in the vtable.
  void** vptr = *reinterpret_cast<void***>(flags);
  std::ptrdiff_t base_offset = reinterpret_cast<std::ptrdiff_t*>(vptr)[-3];
  OptionString prefix{0, std::string("MESOS_CONTAINERIZER_")};
  flags_load_argv(flags + base_offset, prefix, argc - 1, argv + 1, false, false);
  return launch_execute(launch);
}
