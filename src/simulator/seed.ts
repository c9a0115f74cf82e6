import type { MiniProgramSeed } from './options.js';

/** The 全网发布 test accounts (wechat-protocol.md §8): all ten appids, simulated as mini-programs. */
/** wechat-protocol.md §8: five groups, each an Official Account then a mini-program. */
export const RELEASE_TEST_ACCOUNTS: ReadonlyArray<{
  appid: string;
  userName: string;
  group: number;
  kind: 'official_account' | 'mini_program';
}> = [
  { appid: 'wx570bc396a51b8ff8', userName: 'gh_3c884a361561', group: 1, kind: 'official_account' },
  { appid: 'wxd101a85aa106f53e', userName: 'gh_8dad206e9538', group: 1, kind: 'mini_program' },
  { appid: 'wx9252c5e0bb1836fc', userName: 'gh_c0f28a78b318', group: 2, kind: 'official_account' },
  { appid: 'wxc39235c15087f6f3', userName: 'gh_905ae9d01059', group: 2, kind: 'mini_program' },
  { appid: 'wx8e1097c5bc82cde9', userName: 'gh_3f222ed8d140', group: 3, kind: 'official_account' },
  { appid: 'wx7720d01d4b2a4500', userName: 'gh_393666f1fdf4', group: 3, kind: 'mini_program' },
  { appid: 'wx14550af28c71a144', userName: 'gh_26128078e9ab', group: 4, kind: 'official_account' },
  { appid: 'wx05d483572dcd5d8b', userName: 'gh_39abb5d4e1b7', group: 4, kind: 'mini_program' },
  { appid: 'wxa35b9c23cfe664eb', userName: 'gh_2b3713f184a6', group: 5, kind: 'official_account' },
  { appid: 'wx5910277cae6fd970', userName: 'gh_7818dcb60240', group: 5, kind: 'mini_program' },
];

/**
 * Seeded when no `miniPrograms` option is given, so the sandbox and the chat page work with no setup. The ids
 * are fixed so that a restarted simulator keeps matching what kefu-relay stored.
 */
export const DEMO_MINI_PROGRAMS: MiniProgramSeed[] = [
  {
    appid: 'wx5a1b2c3d4e5f6a7b',
    userName: 'gh_5a1b2c3d4e5f',
    nickname: '演示小程序 Demo Shop',
    principalName: '示例科技有限公司',
    users: ['oDemoUser0000000000000000001'],
  },
  {
    appid: 'wx6b2c3d4e5f6a7b8c',
    userName: 'gh_6b2c3d4e5f6a',
    nickname: '第二个小程序 Second Demo',
    principalName: '示例科技有限公司',
    users: ['oDemoUser0000000000000000002'],
  },
];
