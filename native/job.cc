#include "job.h"

namespace mhsm {

namespace {

void Settle(Napi::Env env, Napi::Promise::Deferred& deferred, Job& job, CK_RV rv) {
  if (rv != CKR_OK) {
    deferred.Reject(MakePkcs11Error(env, rv, job.fn()).Value());
    return;
  }
  try {
    deferred.Resolve(job.Result(env));
  } catch (const Napi::Error& error) {
    deferred.Reject(error.Value());
  }
}

class JobWorker final : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Env env, CK_FUNCTION_LIST_PTR functions, std::unique_ptr<Job> job)
      : Napi::AsyncWorker(env, "mhsm:pkcs11"),
        deferred_(Napi::Promise::Deferred::New(env)),
        functions_(functions),
        job_(std::move(job)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override { rv_ = job_->Run(functions_); }
  void OnOK() override { Settle(Env(), deferred_, *job_, rv_); }

 private:
  Napi::Promise::Deferred deferred_;
  CK_FUNCTION_LIST_PTR functions_;
  std::unique_ptr<Job> job_;
  CK_RV rv_ = CKR_GENERAL_ERROR;
};

}  // namespace

Napi::Value Dispatch(Napi::Env env, CK_FUNCTION_LIST_PTR functions, std::unique_ptr<Job> job, bool inlineRun) {
  if (inlineRun) {
    Check(env, job->Run(functions), job->fn());
    return job->Result(env);
  }
  auto* worker = new JobWorker(env, functions, std::move(job));  // deletes itself when done
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace mhsm
