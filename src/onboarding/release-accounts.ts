// WeChat's 全网发布 test accounts (wechat-protocol.md §8): five groups of an Official Account and a
// mini-program. All ten get the automated-check answers (decision §11.10) and belong to no tenant.
const ACCOUNTS: readonly (readonly [appid: string, userName: string])[] = [
  ['wx570bc396a51b8ff8', 'gh_3c884a361561'],
  ['wxd101a85aa106f53e', 'gh_8dad206e9538'],
  ['wx9252c5e0bb1836fc', 'gh_c0f28a78b318'],
  ['wxc39235c15087f6f3', 'gh_905ae9d01059'],
  ['wx8e1097c5bc82cde9', 'gh_3f222ed8d140'],
  ['wx7720d01d4b2a4500', 'gh_393666f1fdf4'],
  ['wx14550af28c71a144', 'gh_26128078e9ab'],
  ['wx05d483572dcd5d8b', 'gh_39abb5d4e1b7'],
  ['wxa35b9c23cfe664eb', 'gh_2b3713f184a6'],
  ['wx5910277cae6fd970', 'gh_7818dcb60240'],
];

export const RELEASE_TEST_APPIDS: ReadonlySet<string> = new Set(ACCOUNTS.map(([appid]) => appid));
export const RELEASE_TEST_USER_NAMES: ReadonlySet<string> = new Set(ACCOUNTS.map(([, userName]) => userName));

/** Recognised by the path appid or by the decrypted ToUserName. */
export function isReleaseTestAccount(appid: string, toUserName?: string): boolean {
  return (
    RELEASE_TEST_APPIDS.has(appid) || (toUserName !== undefined && RELEASE_TEST_USER_NAMES.has(toUserName))
  );
}
