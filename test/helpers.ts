/** The error `f` throws; fails the test when it does not throw. */
export const caught = (f: () => unknown): Error => {
  try {
    f()
  } catch (e) {
    return e as Error
  }
  throw new Error('expected a throw, but the call returned')
}
