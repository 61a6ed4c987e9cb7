import type { Layer } from '../layer/image-model.js';
import { applyLayer, type LayerFactsMemo, type LayerView } from './layer-view.js';

/**
 * The layer view of an image being built, kept up to date layer by layer and lazily: a layer
 * added is looked at only when a question is asked (`ready`), so a build whose steps all hit
 * the cache reads no layer. Its facts come from the build's layer facts memo, so a layer is
 * scanned at most once for the build steps (COPY's destination, parent modes), the airgap
 * scan and the runtime contract together.
 */
export class LazyLayerView {
  private readonly view: LayerView = new Map();
  private readonly layers: Layer[] = [];
  private applied = 0;

  /** `memo` is the build's LayerFactsMemo; only its `facts` is asked. */
  constructor(private readonly memo: Pick<LayerFactsMemo, 'facts'>) {}

  add(layer: Layer): void {
    this.layers.push(layer);
  }

  /** Applies the layers added since; call before isDirectory/modeOf. */
  async ready(): Promise<void> {
    for (; this.applied < this.layers.length; this.applied++) applyLayer(this.view, await this.memo.facts(this.layers[this.applied]!), this.applied);
  }

  isDirectory(path: string): boolean {
    this.assertReady();
    return path === '' || this.view.get(path)?.type === 'directory';
  }

  /** The mode of the directory at `path`, if there is one. */
  modeOf = (path: string): number | undefined => {
    this.assertReady();
    const facts = this.view.get(path);
    return facts?.type === 'directory' ? facts.mode : undefined;
  };

  private assertReady(): void {
    if (this.applied < this.layers.length) throw new Error('LazyLayerView used before ready()');
  }
}
