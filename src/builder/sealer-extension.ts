import { z } from 'zod';
import { KubefileError, type SourcePosition } from '../util/errors.js';
import type { AppType } from './app-type.js';

/** sealer's application record (pkg/define/application/v1), as stored in the extension. */
const ApplicationSchema = z.looseObject({
  name: z.string(),
  type: z.string().optional(),
  files: z.array(z.string()).optional(),
  version: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
  cmds: z.array(z.string()).optional(),
});
type Application = z.infer<typeof ApplicationSchema>;

/** The `sealer.image.extension` annotation (sealer pkg/define/image/v1). */
export const SealerExtensionSchema = z.looseObject({
  buildClient: z.looseObject({ sealerVersion: z.string().optional(), buildahVersion: z.string().optional() }).optional(),
  schemaVersion: z.string(),
  type: z.string().optional(),
  applications: z.array(ApplicationSchema).optional(),
  env: z.record(z.string(), z.string()).optional(),
  launch: z.looseObject({ cmds: z.array(z.string()).optional(), app_names: z.array(z.string()).optional() }).optional(),
});
export type SealerExtension = z.infer<typeof SealerExtensionSchema>;


/** sealer's image types (`sealer build --type`): `app-installer` images only add apps to a running cluster. */
export const IMAGE_TYPES = ['kube-installer', 'app-installer'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

/**
 * The `sealer.image.extension` annotation being drawn up: collects what APP, APPCMDS, APPENV,
 * LAUNCH, CMD and CMDS declare and checks it the way sealer does: APPCMDS/APPENV/LAUNCH name apps that exist, and every app has a way to run.
 */
export class SealerExtensionDraft {
  private readonly apps = new Map<string, { app: Application; pos?: SourcePosition }>();
  private launchApps: string[] = [];
  private cmds: string[] = [];
  /** The Kubefile's ENV: sealer's cluster-wide env, also used to render app files. */
  private readonly env = new Map<string, string>();

  /**
   * Apps come from the base (sealer's processFrom keeps the base's applications); env only
   * from the Kubefile's own ENV lines, an earlier stage's included (`inheritEnv`).
   */
  constructor(base?: SealerExtension, inheritEnv = false) {
    for (const app of base?.applications ?? []) this.apps.set(app.name, { app });
    if (inheritEnv) for (const [k, v] of Object.entries(base?.env ?? {})) this.env.set(k, v);
  }

  setEnv(name: string, value: string): void {
    this.env.set(name, value);
  }

  addApp(name: string, type: AppType, files: string[], pos: SourcePosition): void {
    // sealer leaves out an empty type and files (omitempty in pkg/define/application/v1).
    const app: Application = { name, ...(type !== '' ? { type } : {}), ...(files.length > 0 ? { files } : {}), version: 'v1' };
    this.apps.set(name, { app, pos });
  }

  setAppCmds(name: string, cmds: string[], pos: SourcePosition): void {
    this.requireApp(name, 'APPCMDS', pos).cmds = cmds;
  }

  setAppEnv(name: string, env: Record<string, string>, pos: SourcePosition): void {
    const app = this.requireApp(name, 'APPENV', pos);
    app.env = { ...app.env, ...env };
  }

  launch(names: string[], pos: SourcePosition): void {
    for (const name of names) this.requireApp(name, 'LAUNCH', pos);
    this.launchApps = names;
  }

  addCmds(cmds: string[]): void {
    this.cmds.push(...cmds);
  }

  /** Apps that sealer could not launch: no known type and no APPCMDS. */
  validate(): void {
    for (const { app, pos } of this.apps.values()) {
      if (pos && app.type === undefined && (app.cmds ?? []).length === 0) {
        throw new KubefileError(pos, `APP ${app.name}: cannot tell how to launch it (not a helm chart, .sh or .yaml files)`, `add APPCMDS ${app.name} ["<command>"]`);
      }
    }
  }

  toExtension(version: string, type: ImageType = 'kube-installer'): SealerExtension {
    const ext: SealerExtension = {
      buildClient: { sealerVersion: `sealbuild-${version}`, buildahVersion: '' },
      schemaVersion: 'v1alpha1',
      type,
    };
    if (this.apps.size > 0) ext.applications = [...this.apps.values()].map((a) => a.app);
    if (this.env.size > 0) ext.env = Object.fromEntries(this.env);
    const launch: NonNullable<SealerExtension['launch']> = {};
    if (this.cmds.length > 0) launch.cmds = this.cmds;
    if (this.launchApps.length > 0) launch.app_names = this.launchApps;
    ext.launch = launch;
    return ext;
  }

  private requireApp(name: string, keyword: string, pos: SourcePosition): Application {
    const entry = this.apps.get(name);
    if (!entry) {
      const known = [...this.apps.keys()];
      throw new KubefileError(pos, `${keyword}: no APP named "${name}"`, known.length > 0 ? `known apps: ${known.join(', ')}` : 'declare it first with APP <name> local://<path>');
    }
    return entry.app;
  }
}
