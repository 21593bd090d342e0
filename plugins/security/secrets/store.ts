/**
 * One interface, two implementations (embedded encrypted store, HashiCorp Vault KV v2), one conformance
 * suite (conformance.ts) run against both. Semantics follow Vault KV v2: versioned writes, check-and-set,
 * soft delete of a version (data kept, so undelete restores it), destroy (data gone for ever),
 * metadata delete removes every version.
 */

export interface SecretVersionMeta {
  version: number;
  created_time: string;
  /** "" when not deleted. */
  deletion_time: string;
  destroyed: boolean;
}

export interface SecretRead {
  data: Record<string, unknown>;
  metadata: SecretVersionMeta;
}

/** A version that exists: its data, or null (with the metadata saying why) when deleted or destroyed. */
export interface SecretLookup {
  data: Record<string, unknown> | null;
  metadata: SecretVersionMeta;
}

export interface SecretMetadata {
  current_version: number;
  oldest_version: number;
  max_versions: number;
  created_time: string;
  updated_time: string;
  versions: Record<string, Omit<SecretVersionMeta, "version">>;
}

export interface SecretStore {
  readonly kind: "embedded" | "vault";
  /** Write a new version. `cas`: 0 → only if absent; n → only if the current version is n. */
  put(path: string, data: Record<string, unknown>, opts?: { cas?: number }): Promise<SecretVersionMeta>;
  /** The latest (or given) version; undefined when the path or version does not exist; data null when deleted or destroyed. */
  get(path: string, version?: number): Promise<SecretLookup | undefined>;
  /**
   * Stores that hold their versions in memory: get() without a promise. It hands out one frozen lookup per
   * version while that version is unchanged (a change makes a new one), so a reader may memoise what it
   * derives from a lookup, keyed by the lookup itself.
   */
  peek?(path: string, version?: number): SecretLookup | undefined;
  /** Soft-delete the latest version, or the listed ones (data kept; destroyed ones skipped). false when the path does not exist. */
  delete(path: string, versions?: number[]): Promise<boolean>;
  /** Restore soft-deleted versions; destroyed and absent ones are skipped (as Vault does). false when the path does not exist. */
  undelete(path: string, versions: number[]): Promise<boolean>;
  /** Remove the listed versions' data for ever (metadata stays, destroyed: true); absent ones skipped. false when the path does not exist. */
  destroy(path: string, versions: number[]): Promise<boolean>;
  /** Remove the path and all its versions. */
  deleteAll(path: string): Promise<boolean>;
  metadata(path: string): Promise<SecretMetadata | undefined>;
  /** Keys directly under a folder ("a/" lists "b" and "c/"); [] when none. */
  list(prefix: string): Promise<string[]>;
  health(): Promise<{ ok: boolean; reason?: string }>;
  close(): Promise<void>;
}

export class CasMismatchError extends Error {
  constructor(readonly expected: number, readonly current: number) {
    super(`check-and-set parameter did not match the current version (cas ${expected}, current ${current})`);
    this.name = "CasMismatchError";
  }
}

export class BackendError extends Error {
  constructor(message: string, readonly unavailable: boolean) {
    super(message);
    this.name = "BackendError";
  }
}
