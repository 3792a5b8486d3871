// One PKCS#11 call sequence (for example C_SignInit + C_Sign) packaged so that it can run either
// on a libuv worker thread or inline on the JS thread, and always settles a promise.
#pragma once

#include <napi.h>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "cryptoki.h"
#include "errors.h"

namespace mhsm {

// Thrown inside Run when a module answers with a length or count that cannot be true (far beyond
// any real output, or more than the buffer it was given): the job fails with ERR_MODULE_FAULT
// instead of allocating what the module asked for or reading past a buffer.
class ImpossibleLength : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Job {
 public:
  explicit Job(const char* fn) : fn_(fn) {}
  virtual ~Job() = default;
  // Runs the call sequence and keeps its outcome; safe on any thread. Never throws: a C++
  // exception from Run is kept, so that nothing escapes into libuv or V8.
  void Execute(CK_FUNCTION_LIST_PTR functions) noexcept;
  // On the JS thread, after Execute: the result, or a Napi::Error for every failure (a CK_RV,
  // an impossible length, an exception in Run or in Result). Throws nothing else.
  Napi::Value Settle(Napi::Env env);
  // The C function that produced the last return value (set by Run).
  const char* fn() const { return fn_; }

 protected:
  // Touches only C memory owned by the job: safe on any thread.
  virtual CK_RV Run(CK_FUNCTION_LIST_PTR functions) = 0;
  // Builds the resolved value on the JS thread after Run returned CKR_OK.
  virtual Napi::Value Result(Napi::Env env) = 0;

  const char* fn_;

 private:
  CK_RV rv_ = CKR_GENERAL_ERROR;
  std::exception_ptr error_;
};

template <typename State, typename RunFn, typename ResultFn>
class StateJob final : public Job {
 public:
  StateJob(const char* fn, State state, RunFn run, ResultFn result)
      : Job(fn), state_(std::move(state)), run_(std::move(run)), result_(std::move(result)) {}

 protected:
  CK_RV Run(CK_FUNCTION_LIST_PTR functions) override { return run_(functions, state_, fn_); }
  Napi::Value Result(Napi::Env env) override { return result_(env, state_); }

 private:
  State state_;
  RunFn run_;
  ResultFn result_;
};

// run(functions, state, fn&) -> CK_RV, may set fn to the function that failed;
// result(env, state) -> Napi::Value.
template <typename State, typename RunFn, typename ResultFn>
std::unique_ptr<Job> MakeJob(const char* fn, State state, RunFn run, ResultFn result) {
  return std::make_unique<StateJob<State, RunFn, ResultFn>>(fn, std::move(state), std::move(run),
                                                            std::move(result));
}

// Runs the job on the libuv pool and returns a promise for its result; or, when inlineRun is true,
// runs it now on the JS thread (for operations cheaper than a thread-pool hop) and returns the
// result itself, throwing the error the promise would reject with: a promise would cost more than
// such a call. Either way every failure, C++ exceptions included, becomes a JS error.
Napi::Value Dispatch(Napi::Env env, CK_FUNCTION_LIST_PTR functions, std::unique_ptr<Job> job, bool inlineRun);

// Throws ImpossibleLength with a message that goes after "<fn>: the module reported an impossible length: ".
[[noreturn]] void ThrowImpossibleLength(const std::string& detail);

// Calls op(buffer, &length) with a first guess of the output size; if the token answers
// CKR_BUFFER_TOO_SMALL (the operation stays active), calls once more with the size it asked for.
// A module that asks for more than cap bytes (or no more than it had), answers CKR_BUFFER_TOO_SMALL
// twice, or says it wrote more than the buffer holds gets ImpossibleLength, never a larger
// allocation or a read past the buffer. When its operation is still active, one last call with a
// cap-sized buffer ends it first (a module whose operation is sound completes it there; that
// output is wiped), so that the session can start the next operation.
template <typename Buffer, typename Op>
CK_RV RunWithOutput(Buffer& out, size_t guess, size_t cap, Op op) {
  auto endOperation = [&]() noexcept {
    try {
      Buffer spare(cap);
      CK_ULONG length = static_cast<CK_ULONG>(cap);
      op(spare.data(), &length);
    } catch (...) {
      // no memory for the spare buffer: the operation stays active
    }
  };
  out = Buffer(guess);
  CK_ULONG length = static_cast<CK_ULONG>(guess);
  CK_RV rv = op(out.data(), &length);
  if (rv == CKR_BUFFER_TOO_SMALL) {
    if (length <= guess || length > cap) {
      endOperation();
      ThrowImpossibleLength("CKR_BUFFER_TOO_SMALL asking for " + std::to_string(length) + " bytes after a buffer of " +
                            std::to_string(guess) + " (at most " + std::to_string(cap) + " expected)");
    }
    size_t asked = length;
    out = Buffer(asked);
    rv = op(out.data(), &length);
    if (rv == CKR_BUFFER_TOO_SMALL) {
      endOperation();
      ThrowImpossibleLength("CKR_BUFFER_TOO_SMALL again after it was given the " + std::to_string(asked) +
                            " bytes it asked for");
    }
  }
  if (rv == CKR_OK && length > out.size()) {
    out.Wipe();
    ThrowImpossibleLength("CKR_OK with " + std::to_string(length) + " bytes written into a buffer of " +
                          std::to_string(out.size()));
  }
  if (rv == CKR_OK) out.Truncate(length);
  return rv;
}

}  // namespace mhsm
