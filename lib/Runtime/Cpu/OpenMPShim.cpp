//===- OpenMPShim.cpp - the OpenMP entry points compiled steps call -------===//
//
// The CPU pipeline turns large parallel loops into OpenMP worksharing loops
// (MLIR's scf-to-openmp), and LLVM's OpenMPIRBuilder lowers those to calls
// into the LLVM OpenMP runtime ABI (__kmpc_*). Linking libomp would make the
// executable depend on an LLVM shared library, so the launcher implements
// the handful of entry points the generated code uses, on its own thread
// pool (ThreadPool.cpp):
//
//   __kmpc_fork_call              run the outlined region on every thread
//   __kmpc_global_thread_num      this thread's index in the team
//   __kmpc_for_static_init_*      this thread's static share of a loop
//   __kmpc_for_static_fini        nothing to release
//   __kmpc_barrier                see below
//
// MLIR emits one worksharing loop per parallel region, followed by its
// implicit barrier and the region's end. The join in __kmpc_fork_call is
// that synchronisation, so the barrier has nothing left to order; the team
// members may also run one after another on fewer threads, where a real
// barrier would deadlock.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Cpu/ThreadPool.h"

#include <cstdarg>
#include <cstdint>

namespace {

using Microtask = void (*)(int32_t *, int32_t *, ...);

thread_local int32_t CurrentThread = 0;
thread_local int32_t TeamSize = 1;

/// The outlined region and its (pointer) arguments. OpenMPIRBuilder passes
/// the captured values as one struct pointer, so there is one argument in
/// practice; up to 8 are forwarded.
struct Region {
  Microtask Task;
  int32_t NumArgs;
  void *Args[8];
  int32_t Team;
};

void runMember(void *Ctx, int64_t Begin, int64_t End) {
  const Region &R = *static_cast<const Region *>(Ctx);
  for (int64_t I = Begin; I < End; ++I) {
    int32_t Gtid = int32_t(I), Btid = int32_t(I);
    int32_t SavedThread = CurrentThread, SavedTeam = TeamSize;
    CurrentThread = Gtid;
    TeamSize = R.Team;
    void *const *A = R.Args;
    switch (R.NumArgs) {
    case 0: R.Task(&Gtid, &Btid); break;
    case 1: R.Task(&Gtid, &Btid, A[0]); break;
    case 2: R.Task(&Gtid, &Btid, A[0], A[1]); break;
    case 3: R.Task(&Gtid, &Btid, A[0], A[1], A[2]); break;
    case 4: R.Task(&Gtid, &Btid, A[0], A[1], A[2], A[3]); break;
    case 5: R.Task(&Gtid, &Btid, A[0], A[1], A[2], A[3], A[4]); break;
    case 6: R.Task(&Gtid, &Btid, A[0], A[1], A[2], A[3], A[4], A[5]); break;
    case 7:
      R.Task(&Gtid, &Btid, A[0], A[1], A[2], A[3], A[4], A[5], A[6]);
      break;
    default:
      R.Task(&Gtid, &Btid, A[0], A[1], A[2], A[3], A[4], A[5], A[6], A[7]);
      break;
    }
    CurrentThread = SavedThread;
    TeamSize = SavedTeam;
  }
}

/// This member's share [lower, upper] (inclusive) of a static schedule.
template <typename T>
void staticInit(int32_t Gtid, int32_t *LastIter, T *Lower, T *Upper,
                T *Stride, T Incr) {
  using Wide = __int128;
  Wide Lo = Wide(*Lower), Hi = Wide(*Upper), Step = Wide(Incr ? Incr : 1);
  Wide Trips = Step > 0 ? (Hi - Lo) / Step + 1 : (Lo - Hi) / -Step + 1;
  if (Trips < 0)
    Trips = 0;
  Wide Team = TeamSize > 0 ? TeamSize : 1;
  Wide Per = Trips / Team, Extra = Trips % Team;
  Wide Begin = Wide(Gtid) * Per + (Wide(Gtid) < Extra ? Wide(Gtid) : Extra);
  Wide Count = Per + (Wide(Gtid) < Extra ? 1 : 0);
  if (LastIter)
    *LastIter = Count > 0 && Begin + Count == Trips;
  if (Count == 0) {
    // An empty share: upper < lower in the loop's own direction.
    *Lower = T(Lo + Trips * Step);
    *Upper = T(Lo + Trips * Step - Step);
  } else {
    *Lower = T(Lo + Begin * Step);
    *Upper = T(Lo + (Begin + Count - 1) * Step);
  }
  if (Stride)
    *Stride = T(Trips * Step);
}

} // namespace

extern "C" {

struct ident_t;

int32_t __kmpc_global_thread_num(ident_t *) { return CurrentThread; }

void __kmpc_fork_call(ident_t *, int32_t Argc, Microtask Task, ...) {
  Region R;
  R.Task = Task;
  R.NumArgs = Argc < 0 ? 0 : (Argc > 8 ? 8 : Argc);
  va_list Ap;
  va_start(Ap, Task);
  for (int32_t I = 0; I < R.NumArgs; ++I)
    R.Args[I] = va_arg(Ap, void *);
  va_end(Ap);
  R.Team = monocard::getThreadCount();
  if (R.Team < 1)
    R.Team = 1;
  monocard_parallel_for(R.Team, runMember, &R);
}

void __kmpc_for_static_init_4(ident_t *, int32_t Gtid, int32_t, int32_t *Last,
                              int32_t *Lo, int32_t *Hi, int32_t *St,
                              int32_t Incr, int32_t) {
  staticInit<int32_t>(Gtid, Last, Lo, Hi, St, Incr);
}
void __kmpc_for_static_init_4u(ident_t *, int32_t Gtid, int32_t, int32_t *Last,
                               uint32_t *Lo, uint32_t *Hi, int32_t *St,
                               int32_t Incr, int32_t) {
  int32_t Lo32 = int32_t(*Lo), Hi32 = int32_t(*Hi);
  staticInit<int32_t>(Gtid, Last, &Lo32, &Hi32, St, Incr);
  *Lo = uint32_t(Lo32);
  *Hi = uint32_t(Hi32);
}
void __kmpc_for_static_init_8(ident_t *, int32_t Gtid, int32_t, int32_t *Last,
                              int64_t *Lo, int64_t *Hi, int64_t *St,
                              int64_t Incr, int64_t) {
  staticInit<int64_t>(Gtid, Last, Lo, Hi, St, Incr);
}
void __kmpc_for_static_init_8u(ident_t *, int32_t Gtid, int32_t, int32_t *Last,
                               uint64_t *Lo, uint64_t *Hi, int64_t *St,
                               int64_t Incr, int64_t) {
  int64_t Lo64 = int64_t(*Lo), Hi64 = int64_t(*Hi);
  staticInit<int64_t>(Gtid, Last, &Lo64, &Hi64, St, Incr);
  *Lo = uint64_t(Lo64);
  *Hi = uint64_t(Hi64);
}
void __kmpc_for_static_fini(ident_t *, int32_t) {}
void __kmpc_barrier(ident_t *, int32_t) {}

} // extern "C"
