#include "job.h"

#include <new>
#include <string>

namespace mhsm {

void Job::Execute(CK_FUNCTION_LIST_PTR functions) noexcept {
  try {
    rv_ = Run(functions);
  } catch (...) {
    error_ = std::current_exception();
  }
}

Napi::Value Job::Settle(Napi::Env env) {
  try {
    if (error_) std::rethrow_exception(error_);
    Check(env, rv_, fn_);
    return Result(env);
  } catch (const Napi::Error&) {
    throw;
  } catch (const ImpossibleLength& fault) {
    throw MakeModuleFaultError(env, fn_, fault.what());
  } catch (const std::bad_alloc&) {
    // This process, the module's host, had no memory for the call: Cryptoki's code for that.
    throw MakePkcs11Error(env, CKR_HOST_MEMORY, fn_);
  } catch (const std::exception& error) {
    throw MakeFunctionError(env, "ERR_NATIVE_EXCEPTION", fn_, std::string(fn_) + ": " + error.what());
  } catch (...) {
    throw MakeFunctionError(env, "ERR_NATIVE_EXCEPTION", fn_, std::string(fn_) + ": an unknown native exception");
  }
}

[[noreturn]] void ThrowImpossibleLength(const std::string& detail) { throw ImpossibleLength(detail); }

namespace {

class JobWorker final : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Env env, CK_FUNCTION_LIST_PTR functions, std::unique_ptr<Job> job)
      : Napi::AsyncWorker(env, "mhsm:pkcs11"),
        deferred_(Napi::Promise::Deferred::New(env)),
        functions_(functions),
        job_(std::move(job)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override { job_->Execute(functions_); }
  void OnOK() override {
    try {
      deferred_.Resolve(job_->Settle(Env()));
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    } catch (...) {
      RejectUnexplained();
    }
  }
  // Execute never reports through SetError; were anything to, the promise would still settle.
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  void RejectUnexplained() noexcept {
    try {
      const char* fn = job_->fn();
      std::string message = std::string(fn) + ": the call failed and its error could not be built";
      deferred_.Reject(MakeFunctionError(Env(), "ERR_NATIVE_EXCEPTION", fn, message).Value());
    } catch (...) {
      // V8 itself is failing: nothing is left that could settle the promise
    }
  }

  Napi::Promise::Deferred deferred_;
  CK_FUNCTION_LIST_PTR functions_;
  std::unique_ptr<Job> job_;
};

}  // namespace

Napi::Value Dispatch(Napi::Env env, CK_FUNCTION_LIST_PTR functions, std::unique_ptr<Job> job, bool inlineRun) {
  if (inlineRun) {
    job->Execute(functions);
    return job->Settle(env);
  }
  auto* worker = new JobWorker(env, functions, std::move(job));  // deletes itself when done
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace mhsm
