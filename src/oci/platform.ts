import { UsageError } from '../util/errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const KNOWN_ARCHES = new Set(['amd64', 'arm64', 'arm', '386', 'ppc64le', 's390x', 'riscv64', 'loong64', 'mips64le']);

/**
 * Parses `os/arch[/variant]` as docker does, normalising the way containerd's platforms
 * package does (arm64/v8 is plain arm64; arm defaults to v7), so equal platforms compare equal.
 */
export function parsePlatform(text: string, flag = '--platform'): Platform {
  const parts = text.trim().toLowerCase().split('/');
  const [os, rawArch, rawVariant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !rawArch) {
    throw new UsageError(`${flag}: "${text}" is not a platform`, 'write os/arch[/variant], e.g. linux/amd64 or linux/arm64');
  }
  const architecture = ({ x86_64: 'amd64', x86: '386', aarch64: 'arm64', armhf: 'arm' } as Record<string, string>)[rawArch] ?? rawArch;
  if (!KNOWN_ARCHES.has(architecture)) {
    throw new UsageError(`${flag}: unknown architecture "${rawArch}" in "${text}"`, `known: ${[...KNOWN_ARCHES].join(', ')}`);
  }
  const platform = normalizePlatform({ os, architecture, variant: rawVariant });
  if (architecture === 'arm' && !['v5', 'v6', 'v7', 'v8'].includes(platform.variant!)) {
    throw new UsageError(`${flag}: unknown arm variant "${platform.variant}" in "${text}"`, 'arm variants are v5, v6, v7, v8');
  }
  return platform;
}

/** containerd's normalisation: arm64/v8 is arm64, arm alone is arm/v7. */
export function normalizePlatform(p: { os: string; architecture: string; variant?: string | undefined }): Platform {
  let variant = p.variant;
  if (p.architecture === 'arm64' && variant === 'v8') variant = undefined;
  if (p.architecture === 'arm' && variant === undefined) variant = 'v7';
  return variant === undefined ? { os: p.os, architecture: p.architecture } : { os: p.os, architecture: p.architecture, variant };
}

/** `--platform a,b` with duplicates removed, order kept. */
export function parsePlatformList(text: string, flag = '--platform'): Platform[] {
  const seen = new Map<string, Platform>();
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const platform = parsePlatform(item, flag);
    seen.set(formatPlatform(platform), platform);
  }
  if (seen.size === 0) throw new UsageError(`${flag}: no platform given`, 'e.g. --platform linux/amd64,linux/arm64');
  return [...seen.values()];
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

export function hostPlatform(): Platform {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  return parsePlatform(`linux/${arch}`);
}

export function samePlatform(a: Platform, b: Platform): boolean {
  return formatPlatform(a) === formatPlatform(b);
}
