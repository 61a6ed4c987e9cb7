// What the contract checks (verify.ts, upstream-contract.ts) are given and report.

/** One line of a verify report. */
export interface Finding {
  ok: boolean;
  /** The path (or `Metadata`, `registry/`) the finding is about. */
  subject: string;
  message: string;
}

/** The image config's say on the runtime: labels and ENV (absent for a directory). */
export interface ImageDeclarations {
  labels: ReadonlyMap<string, string>;
  env: ReadonlyMap<string, string>;
}
