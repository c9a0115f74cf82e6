import type { WeChatCrypto } from '../wechat/crypto.js';
import type { SimClock } from './clock.js';
import type { SimConfig } from './options.js';
import type { PushService } from './push.js';
import type { SimState } from './state.js';

/** What every route module of the simulator shares. */
export interface SimContext {
  config: SimConfig;
  state: SimState;
  clock: SimClock;
  crypto: () => WeChatCrypto;
  pushes: PushService;
  /** Base URL of the simulator itself, for PicUrl/ThumbUrl and the chat page. */
  publicUrl: () => string;
  log: (line: string) => void;
  /** Resolves when the simulator stops; hung requests wait on it so stop() can finish. */
  stopped: Promise<void>;
}
