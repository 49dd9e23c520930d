/** One contract fixture per registered provider kind (the suite fails for a kind without one). */
import type { KindFixture } from '../fixture';

export const FIXTURES: Record<string, KindFixture> = {};
