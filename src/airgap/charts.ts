import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { isMap, isScalar, isSeq, parse } from 'yaml';
import { UserError } from '../util/errors.js';
import { imagesInYaml, parseYamlFile, type FoundImage, type ImageField } from './discover.js';

/**
 * A helm chart the image carries: a directory with a Chart.yaml, or a packaged `.tgz`.
 * `files` is the chart as helm loads it, paths relative to the chart's root, with packaged
 * subcharts (`charts/*.tgz`) opened into `charts/<name>/` so the values fallback reads them too.
 */
export interface Chart {
  /** Where it sits in the image: `charts/web` or `charts/web-1.0.0.tgz`. */
  path: string;
  packaged: boolean;
  /** What helm is given: the directory's files (relative to it) or the archive's bytes. */
  source: Map<string, Buffer> | Buffer;
  files: Map<string, Buffer>;
  name: string;
  type: string;
  /** `charts/<chart>.values.yaml` when the image has one. */
  override?: string;
}

/** Chart.yaml, read leniently: helm itself reports a broken one when it renders. */
function chartMeta(text: string | undefined): { name?: string; type?: string; appVersion?: string } {
  if (text === undefined) return {};
  try {
    const meta = parse(text) as unknown;
    if (meta === null || typeof meta !== 'object') return {};
    const field = (key: string) => {
      const value = (meta as Record<string, unknown>)[key];
      return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
    };
    const out: { name?: string; type?: string; appVersion?: string } = {};
    for (const key of ['name', 'type', 'appVersion'] as const) {
      const value = field(key);
      if (value !== undefined) out[key] = value;
    }
    return out;
  } catch {
    return {};
  }
}

/** A chart archive's files, relative to its top directory (helm packages `<name>/...`). */
export async function chartArchiveFiles(where: string, bytes: Buffer): Promise<Map<string, Buffer>> {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes);
  } catch (err) {
    throw new UserError(`${where}: not a gzip-compressed chart archive: ${(err as Error).message}`, { hint: 'package charts with `helm package`' });
  }
  const files = new Map<string, Buffer>();
  const reader = extract();
  reader.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: unknown) => chunks.push(c as Buffer));
    body.on('end', () => {
      const name = posix.normalize(header.name).replace(/^\/+/, '');
      const slash = name.indexOf('/');
      if (header.type === 'file' && slash > 0 && !name.startsWith('../')) files.set(name.slice(slash + 1), Buffer.concat(chunks));
      next();
    });
    body.resume();
  });
  // tar-stream's Extract is a streamx stream: Node's pipeline drives it, its types just do not say so.
  await pipeline(Readable.from([tar]), reader as unknown as NodeJS.WritableStream).catch((err: unknown) => {
    throw new UserError(`${where}: not a chart archive: ${(err as Error).message}`, { hint: 'package charts with `helm package`' });
  });
  return withSubchartArchives(where, files);
}

/** Opens `charts/*.tgz` subcharts (at any depth) into `charts/<name>/`. */
async function withSubchartArchives(where: string, files: Map<string, Buffer>): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const [path, content] of files) {
    if (!/(^|\/)charts\/[^/]+\.tgz$/.test(path)) {
      out.set(path, content);
      continue;
    }
    const inner = await chartArchiveFiles(`${where}:${path}`, content);
    const name = chartMeta(inner.get('Chart.yaml')?.toString('utf8')).name ?? posix.basename(path, '.tgz');
    for (const [p, c] of inner) out.set(`${posix.dirname(path)}/${name}/${p}`, c);
  }
  return out;
}

/**
 * The charts among the image's documents: a Chart.yaml not inside another chart (subcharts
 * render with their parent) and `.tgz` archives not inside a chart.
 */
export async function findCharts(documents: Map<string, Buffer>): Promise<Chart[]> {
  const dirs = [...documents.keys()].filter((p) => p.endsWith('/Chart.yaml')).map((p) => posix.dirname(p));
  const insideChart = (path: string) => dirs.some((d) => path.startsWith(`${d}/`));
  const charts: Chart[] = [];
  for (const dir of dirs.filter((d) => !insideChart(d)).sort()) {
    const source = new Map([...documents].filter(([p]) => p.startsWith(`${dir}/`)).map(([p, c]) => [p.slice(dir.length + 1), c]));
    charts.push(describe(documents, dir, false, source, await withSubchartArchives(dir, source)));
  }
  for (const path of [...documents.keys()].filter((p) => p.endsWith('.tgz') && !insideChart(p)).sort()) {
    const bytes = documents.get(path)!;
    charts.push(describe(documents, path, true, bytes, await chartArchiveFiles(path, bytes)));
  }
  return charts;
}

function describe(documents: Map<string, Buffer>, path: string, packaged: boolean, source: Map<string, Buffer> | Buffer, files: Map<string, Buffer>): Chart {
  const meta = chartMeta(files.get('Chart.yaml')?.toString('utf8'));
  const name = meta.name ?? posix.basename(path, '.tgz');
  // `charts/<chart>.values.yaml`: by the directory (or archive) name, or by the chart's name.
  const stems = [path.replace(/\.tgz$/, ''), posix.join(posix.dirname(path), name)];
  const override = stems.flatMap((s) => [`${s}.values.yaml`, `${s}.values.yml`]).find((p) => documents.has(p));
  return { path, packaged, source, files, name, type: meta.type ?? 'application', ...(override ? { override } : {}) };
}

/** Runs helm without a shell; its output is collected, never streamed to the user. */
function runHelm(helm: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(helm, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** A release name helm accepts (a DNS label, at most 53 characters), stable for one chart. */
function releaseName(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 53) || 'chart'
  );
}

/** helm's error, told in the image's paths: `execution error at (web/templates/x.yaml:9:20): msg` -> `charts/web/templates/x.yaml:9:20: msg`. */
function helmError(chart: Chart, stderr: string): UserError {
  const line = stderr.split('\n').find((l) => l.startsWith('Error:')) ?? stderr.trim().split('\n').at(-1) ?? '';
  const message = line.replace(/^Error:\s*/, '');
  const inImage = (file: string) => {
    const rest = file.slice(file.indexOf('/') + 1);
    return chart.packaged ? `${chart.path}:${rest}` : `${chart.path}/${rest}`;
  };
  const overrideFile = chart.override ?? `${chart.path.replace(/\.tgz$/, '')}.values.yaml`;
  const failed = /execution error at \(([^)]+?):(\d+):(\d+)\): (.*)$/.exec(message);
  if (failed) {
    return new UserError(`${inImage(failed[1]!)}:${failed[2]}:${failed[3]}: chart ${chart.name} needs a value: ${failed[4]}`, { hint: `set it in ${overrideFile} (helm template renders with those values, no network and no cluster)` });
  }
  if (/missing in charts\/ directory/.test(message)) {
    return new UserError(`${chart.path}: ${message}`, { hint: 'helm template never downloads: run `helm dependency build` on the chart before building the image' });
  }
  return new UserError(`${chart.path}: helm template failed: ${message}`, { hint: `fix the chart or ${overrideFile}` });
}

/**
 * Renders a chart with `helm template` (subcharts, CRDs and the override values file
 * included) and reads the images of what it renders. helm runs with no network and no
 * cluster: `template` never contacts one, dependencies must already be in the chart, and
 * its config, cache and data homes are a scratch directory, so no user repository is read.
 */
export async function imagesInHelmChart(helm: string, chart: Chart, documents: Map<string, Buffer>, fields: ImageField[]): Promise<FoundImage[]> {
  const scratch = await mkdtemp(join(tmpdir(), 'sealbuild-chart-'));
  try {
    let chartArg: string;
    if (Buffer.isBuffer(chart.source)) {
      chartArg = join(scratch, posix.basename(chart.path));
      await writeFile(chartArg, chart.source);
    } else {
      chartArg = join(scratch, 'chart', posix.basename(chart.path));
      for (const [path, content] of chart.source) {
        const target = join(chartArg, path);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, content);
      }
    }
    const args = ['template', releaseName(chart.name), chartArg, '--include-crds'];
    if (chart.override) {
      const values = join(scratch, 'override.values.yaml');
      await writeFile(values, documents.get(chart.override)!);
      args.push('--values', values);
    }
    const home = join(scratch, 'home');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
      KUBECONFIG: join(home, 'no-kubeconfig'),
    };
    const result = await runHelm(helm, args, env);
    if (result.code !== 0) throw helmError(chart, result.stderr);
    return imagesInYaml(`${chart.path} (helm template)`, result.stdout, fields);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Without helm, a chart's values still name most of its images: `image: ref` strings and
 * `image: {repository, tag|digest, registry}` maps; a map with no tag takes the chart's
 * appVersion, as helm's own starter chart does.
 */
export function imagesInValues(path: string, text: string, appVersion: string | undefined): FoundImage[] {
  const found: FoundImage[] = [];
  const visit = (node: unknown): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '';
        const value = pair.value;
        if (key === 'image' && isScalar(value) && typeof value.value === 'string' && value.value.trim() !== '') found.push({ image: value.value.trim(), source: path });
        else if (key === 'image' && isMap(value)) {
          const field = (name: string) => {
            const v = value.get(name);
            return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
          };
          const repository = field('repository');
          if (repository) {
            const registry = field('registry');
            const name = registry ? `${registry}/${repository}` : repository;
            const digest = field('digest');
            found.push({ image: digest ? `${name}@${digest}` : `${name}:${field('tag') || appVersion || 'latest'}`, source: path });
          }
        }
        visit(value);
      }
    } else if (isSeq(node)) node.items.forEach(visit);
  };
  for (const doc of parseYamlFile(path, text)) visit(doc.contents);
  return found;
}

/** What the values fallback found in one chart, and the template lines it could not read. */
export interface ValuesScan {
  found: FoundImage[];
  /** `file:line` of every template line that builds an `image:` from template expressions. */
  missed: string[];
}

/** The fallback when helm is not installed: the values files (the chart's, its subcharts', the override). */
export function scanChartValues(chart: Chart, documents: Map<string, Buffer>): ValuesScan {
  const where = (path: string) => (chart.packaged ? `${chart.path}:${path}` : `${chart.path}/${path}`);
  const appVersionOf = (dir: string) => chartMeta(chart.files.get(dir === '.' ? 'Chart.yaml' : `${dir}/Chart.yaml`)?.toString('utf8')).appVersion;
  const found: FoundImage[] = [];
  const missed: string[] = [];
  for (const [path, content] of [...chart.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const dir = posix.dirname(path);
    if (/(^|\/)values\.ya?ml$/.test(path)) found.push(...imagesInValues(where(path), content.toString('utf8'), appVersionOf(dir)));
    else if (/(^|\/)templates\//.test(path)) {
      content
        .toString('utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/\bimage:.*\{\{/.test(line)) missed.push(`${where(path)}:${i + 1}`);
        });
    }
  }
  if (chart.override) found.push(...imagesInValues(chart.override, documents.get(chart.override)!.toString('utf8'), appVersionOf('.')));
  return { found, missed };
}
