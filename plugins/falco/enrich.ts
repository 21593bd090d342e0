/**
 * Enrichment: which platform service a container belongs to, from container.name, the image
 * repository and container/pod labels (plugins.falco.services, first match wins), and that service's
 * SPIFFE id as the security plugin issues it (spiffe://<trust_domain>/service/<name>).
 */
import type { FieldValue } from "./alert";
import type { ServiceMappingConfig } from "./schema";

interface Compiled {
  service: string;
  names: RegExp[];
  images: RegExp[];
  labels: [string, string][];
}

function glob(p: string): RegExp {
  return new RegExp("^" + p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
}

/** container.label.app, container.label[app], k8s.pod.label.app, k8s.pod.label[app] → "app". */
const LABEL_KEY = /^(?:container\.label|k8s\.pod\.label)(?:\.(.+)|\[(.+)\])$/;

export class Enricher {
  private readonly rules: Compiled[];
  constructor(mappings: readonly ServiceMappingConfig[], private readonly trustDomain: string) {
    this.rules = mappings.map((m) => ({ service: m.service, names: m.container_names.map(glob), images: m.images.map(glob), labels: Object.entries(m.labels) }));
  }

  /** The service of the container that raised the alert, or undefined (host events, unmapped containers). */
  serviceOf(fields: Record<string, FieldValue>): string | undefined {
    if (this.rules.length === 0) return undefined;
    const name = str(fields["container.name"]);
    const image = str(fields["container.image.repository"]) ?? stripTag(str(fields["container.image"]));
    let labels: Map<string, string> | undefined;
    for (const r of this.rules) {
      if (r.names.length > 0 && !(name !== undefined && r.names.some((re) => re.test(name)))) continue;
      if (r.images.length > 0 && !(image !== undefined && r.images.some((re) => re.test(image)))) continue;
      if (r.labels.length > 0) {
        labels ??= labelsOf(fields);
        if (!r.labels.every(([k, v]) => labels!.get(k) === v)) continue;
      }
      if (r.names.length === 0 && r.images.length === 0 && r.labels.length === 0) continue; // an empty mapping matches nothing
      return r.service;
    }
    return undefined;
  }

  spiffeOf(service: string): string {
    return `spiffe://${this.trustDomain}/service/${service}`;
  }
}

function str(v: FieldValue | undefined): string | undefined {
  return typeof v === "string" && v.length > 0 && v !== "<NA>" && v !== "N/A" ? v : undefined;
}

function stripTag(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const at = image.indexOf("@");
  const noDigest = at >= 0 ? image.slice(0, at) : image;
  const colon = noDigest.lastIndexOf(":");
  return colon > noDigest.lastIndexOf("/") ? noDigest.slice(0, colon) : noDigest;
}

function labelsOf(fields: Record<string, FieldValue>): Map<string, string> {
  const m = new Map<string, string>();
  for (const key in fields) {
    const hit = LABEL_KEY.exec(key);
    const v = fields[key];
    if (hit && typeof v === "string") m.set(hit[1] ?? hit[2], v);
  }
  return m;
}
