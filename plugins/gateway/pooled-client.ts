/** Placeholder: the pooled HTTP/1.1 client on Bun.connect (replaced below once measured). */
import { fetchClient, type UpstreamClient } from "./upstream-client";
export function pooledClient(): UpstreamClient { return { ...fetchClient(), kind: "pooled" }; }
