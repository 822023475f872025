/** Port: what detection leadership needs from the cluster: a lease (DetectionLease) and a shared progress store whose snapshot it claims. */

/** The lease one instance holds to run streaming detection. */
export interface LeaseLike {
  readonly holder: string;
  acquire(): Promise<boolean>;
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

/** The shared progress store: prepare() reads and claims the snapshot the worker starts from. */
export interface ClaimableProgress {
  prepare(): Promise<void>;
}
