// What a synchronous rule throws, as its code and message, for tests that compare them exactly.

/** The code and message of what `run` throws; throws itself (failing the test) if `run` throws nothing. */
export function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  throw new Error('expected a refusal');
}

/** The code and message `promise` rejects with; throws itself (failing the test) if it resolves. */
export async function refusalOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  throw new Error('expected a refusal');
}
