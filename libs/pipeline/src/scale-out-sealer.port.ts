/** Port: what the scale-out runner starts once the chain writer is up and stops after it drained (the CheckpointService). */
export interface ScaleOutSealer {
  start(): Promise<void>;
  stop(): Promise<void>;
}
