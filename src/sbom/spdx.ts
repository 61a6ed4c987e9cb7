import { parse } from 'yaml';
import { z } from 'zod';
import { digestHex, isDigest } from '../oci/digest.js';
import { formatPlatform } from '../oci/platform.js';
import { parseReference, repositoryName, type Reference } from '../oci/reference.js';
import { IMAGES_LOCK_PATH } from '../airgap/documents.js';
import { contentOf, resolvePath, type LayerView } from '../runtime/layer-view.js';
import type { PathFacts } from '../runtime/layer-facts.js';
import type { Chart } from '../airgap/charts.js';
import { DOWNLOADS_LABEL, recordedDownloads } from '../builder/downloads-label.js';
import { Annotation } from '../oci/media-types.js';
import { checkedJson } from '../oci/schemas.js';
import type { ResolvedImage } from '../store/image.js';
import { VERSION } from '../version.js';

/** The artifactType (and layer media type) of an SPDX JSON document, as the issue and oras use it. */
export const SPDX_JSON = 'application/spdx+json';

/*
 * An SPDX 2.3 JSON document (spdx.github.io/spdx-spec/v2.3) of one platform image, from what
 * its layers really hold: the files under bin/ and sbin/ dirs and every ELF file, with SHA1
 * (SPDX 2.3 requires it for files) and SHA256; the Go module each Go binary says it was built
 * from, with its version; every container image cached into registry/ (images.lock) with its
 * digest and platform; the charts; the base image; what the Kubefile downloaded, with its
 * checksum (builder/downloads-label.ts). Deterministic: the same image gives the
 * same bytes, so pushing it again adds no second referrer.
 */

const LockSchema = z.array(z.looseObject({ ref: z.string(), digest: z.string().refine(isDigest), platform: z.string() }));
const ChartMetaSchema = z.looseObject({ name: z.string().optional(), version: z.union([z.string(), z.number()]).optional(), appVersion: z.union([z.string(), z.number()]).optional() });

interface Checksum { algorithm: 'SHA1' | 'SHA256'; checksumValue: string }
interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  downloadLocation: string;
  filesAnalyzed: false;
  primaryPackagePurpose?: 'CONTAINER' | 'APPLICATION' | 'LIBRARY' | 'FILE';
  checksums?: Checksum[];
  externalRefs?: { referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }[];
  comment?: string;
}
interface SpdxFile { SPDXID: string; fileName: string; fileTypes: ('BINARY' | 'OTHER')[]; checksums: Checksum[]; comment?: string }
interface Relationship { spdxElementId: string; relationshipType: 'DESCRIBES' | 'CONTAINS' | 'DESCENDANT_OF' | 'GENERATED_FROM'; relatedSpdxElement: string }

export interface SbomInput {
  /** The image's name (normalised reference): the document's and the image package's name. */
  name: string;
  image: ResolvedImage;
  view: LayerView;
  charts: Chart[];
}

/** SPDX identifiers allow letters, digits, `.` and `-` only. */
function spdxId(kind: string, text: string): string {
  return `SPDXRef-${kind}-${text.replace(/[^A-Za-z0-9.-]+/g, '-')}`;
}

function sha256(digest: string): Checksum[] {
  return [{ algorithm: 'SHA256', checksumValue: digest.slice('sha256:'.length) }];
}

/** purl's oci type (github.com/package-url/purl-spec): the last path element, the digest, where it lives. */
function ociPurl(ref: Reference, digest: string, platform?: string): string {
  const name = ref.path.split('/').at(-1)!;
  const qualifiers = [`repository_url=${encodeURIComponent(repositoryName(ref))}`];
  if (platform !== undefined) qualifiers.push(`arch=${encodeURIComponent(platform.split('/')[1] ?? platform)}`);
  if (ref.tag !== undefined) qualifiers.push(`tag=${encodeURIComponent(ref.tag)}`);
  return `pkg:oci/${name}@${encodeURIComponent(digest)}?${qualifiers.join('&')}`;
}

function imagePackage(id: string, ref: Reference, digest: string, comment: string, platform?: string): SpdxPackage {
  return {
    SPDXID: id,
    name: repositoryName(ref),
    ...(ref.tag !== undefined ? { versionInfo: ref.tag } : {}),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    primaryPackagePurpose: 'CONTAINER',
    checksums: sha256(digest),
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: ociPurl(ref, digest, platform) }],
    comment,
  };
}

function chartPackage(chart: Chart): SpdxPackage {
  let meta: z.infer<typeof ChartMetaSchema> = {};
  try {
    meta = ChartMetaSchema.safeParse(parse(chart.files.get('Chart.yaml')?.toString('utf8') ?? '')).data ?? {};
  } catch {
    // A Chart.yaml that is not YAML: the chart is listed by its path alone.
  }
  return {
    SPDXID: spdxId('Chart', chart.path),
    name: meta.name ?? chart.name,
    ...(meta.version !== undefined ? { versionInfo: String(meta.version) } : {}),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    primaryPackagePurpose: 'APPLICATION',
    comment: `Helm chart at ${chart.path} in the image${meta.appVersion !== undefined ? `, appVersion ${meta.appVersion}` : ''}`,
  };
}

/** The cached images, from images.lock (read with zod: it is a file in a layer). */
function cachedImages(view: LayerView): z.infer<typeof LockSchema> {
  const facts = view.get(IMAGES_LOCK_PATH);
  const bytes = facts?.type === 'file' ? contentOf(facts) : undefined;
  if (bytes === undefined) return [];
  return checkedJson(LockSchema, bytes) ?? [];
}

/** The files an SBOM lists: those the scan hashed, hard links as their target's bytes. */
function listedFiles(view: LayerView): { path: string; facts: PathFacts }[] {
  const files: { path: string; facts: PathFacts }[] = [];
  for (const [path, facts] of view) {
    const target = facts.type === 'link' ? resolvePath(view, path)?.facts : facts.type === 'file' ? facts : undefined;
    if (target?.sha256 !== undefined && target.sha1 !== undefined) files.push({ path, facts: target });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function spdxDocument(input: SbomInput): Record<string, unknown> {
  const { image, view } = input;
  const ref = parseReference(input.name);
  const platform = formatPlatform(image.platform);
  const imageId = 'SPDXRef-Image';
  const packages: SpdxPackage[] = [imagePackage(imageId, ref, image.descriptor.digest, `ClusterImage ${input.name}, ${platform}`, platform)];
  const files: SpdxFile[] = [];
  const relationships: Relationship[] = [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId }];

  const baseName = image.manifest.annotations?.[Annotation.baseName];
  const baseDigest = image.manifest.annotations?.[Annotation.baseDigest];
  if (baseName !== undefined && baseDigest !== undefined && isDigest(baseDigest)) {
    packages.push(imagePackage('SPDXRef-BaseImage', parseReference(baseName), baseDigest, 'the base image (FROM)'));
    relationships.push({ spdxElementId: imageId, relationshipType: 'DESCENDANT_OF', relatedSpdxElement: 'SPDXRef-BaseImage' });
  }

  for (const entry of cachedImages(view)) {
    const id = spdxId('CachedImage', `${entry.ref}-${entry.platform}`);
    packages.push(imagePackage(id, parseReference(entry.ref), entry.digest, `container image cached in registry/ for ${entry.platform}`, entry.platform));
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: id });
  }

  for (const chart of input.charts) {
    const chartPkg = chartPackage(chart);
    packages.push(chartPkg);
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: chartPkg.SPDXID });
  }

  // What the Kubefile downloaded (ADD/APP <url>), as the build recorded it in the config.
  for (const [i, download] of recordedDownloads(image.config.config?.Labels?.[DOWNLOADS_LABEL]).entries()) {
    const id = spdxId('Download', `${i + 1}-${download.url.split('/').at(-1) ?? ''}`);
    packages.push({
      SPDXID: id,
      name: download.url.split('/').at(-1) || download.url,
      downloadLocation: download.url,
      filesAnalyzed: false,
      primaryPackagePurpose: 'FILE',
      checksums: sha256(download.sha256),
      comment: `downloaded by the Kubefile into ${download.dest}`,
    });
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: id });
  }

  const modules = new Set<string>();
  for (const { path, facts } of listedFiles(view)) {
    const id = spdxId('File', path);
    const go = facts.go;
    files.push({
      SPDXID: id,
      fileName: `./${path}`,
      fileTypes: [facts.elf !== undefined || go !== undefined ? 'BINARY' : 'OTHER'],
      checksums: [{ algorithm: 'SHA1', checksumValue: facts.sha1! }, { algorithm: 'SHA256', checksumValue: facts.sha256! }],
      ...(go ? { comment: `built with ${go.go}${go.path ? ` from ${go.path}` : ''}` } : {}),
    });
    relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: id });
    if (go?.module !== undefined) {
      const version = go.version ?? '(devel)';
      const moduleId = spdxId('GoModule', `${go.module}@${version}`);
      if (!modules.has(moduleId)) {
        modules.add(moduleId);
        packages.push({
          SPDXID: moduleId,
          name: go.module,
          versionInfo: version,
          downloadLocation: 'NOASSERTION',
          filesAnalyzed: false,
          primaryPackagePurpose: 'APPLICATION',
          externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: `pkg:golang/${go.module}@${encodeURIComponent(version)}` }],
        });
      }
      relationships.push({ spdxElementId: id, relationshipType: 'GENERATED_FROM', relatedSpdxElement: moduleId });
    }
  }

  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${input.name} ${platform}`,
    // Unique per image and platform, and the same every time it is made.
    documentNamespace: `https://sealbuild.invalid/spdx/${encodeURIComponent(repositoryName(ref))}/${digestHex(image.descriptor.digest)}`,
    creationInfo: { created: image.config.created?.replace(/\.\d+Z$/, 'Z') ?? '1970-01-01T00:00:00Z', creators: [`Tool: sealbuild-${VERSION}`] },
    packages,
    files,
    relationships,
  };
}
