// One PKCS#11 call sequence (for example C_SignInit + C_Sign) packaged so that it can run either
// on a libuv worker thread or inline on the JS thread, and always settles a promise.
#pragma once

#include <napi.h>

#include <memory>
#include <utility>

#include "cryptoki.h"
#include "errors.h"

namespace mhsm {

class Job {
 public:
  explicit Job(const char* fn) : fn_(fn) {}
  virtual ~Job() = default;
  // Touches only C memory owned by the job: safe on any thread.
  virtual CK_RV Run(CK_FUNCTION_LIST_PTR functions) = 0;
  // Builds the resolved value on the JS thread after Run returned CKR_OK.
  virtual Napi::Value Result(Napi::Env env) = 0;
  // The C function that produced the last return value (set by Run).
  const char* fn() const { return fn_; }

 protected:
  const char* fn_;
};

template <typename State, typename RunFn, typename ResultFn>
class StateJob final : public Job {
 public:
  StateJob(const char* fn, State state, RunFn run, ResultFn result)
      : Job(fn), state_(std::move(state)), run_(std::move(run)), result_(std::move(result)) {}
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
// result itself, throwing a Pkcs11Error on failure: a promise would cost more than such a call.
Napi::Value Dispatch(Napi::Env env, CK_FUNCTION_LIST_PTR functions, std::unique_ptr<Job> job, bool inlineRun);

// Calls op(buffer, &length) with a first guess of the output size; if the token answers
// CKR_BUFFER_TOO_SMALL (the operation stays active), calls once more with the size it asked for.
template <typename Buffer, typename Op>
CK_RV RunWithOutput(Buffer& out, size_t guess, Op op) {
  out = Buffer(guess);
  CK_ULONG length = static_cast<CK_ULONG>(guess);
  CK_RV rv = op(out.data(), &length);
  if (rv == CKR_BUFFER_TOO_SMALL && length > guess) {
    out = Buffer(length);
    rv = op(out.data(), &length);
  }
  if (rv == CKR_OK) out.Truncate(length);
  return rv;
}

}  // namespace mhsm
