/** A response body as loosely typed JSON: tests assert on its shape. */
// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
export const json = async (res: Response | Promise<Response>): Promise<any> => (await res).json();
