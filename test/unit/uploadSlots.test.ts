/** A tenant's uploads in progress: a few at once, per tenant, each slot given back once. */
import { DEFAULT_TENANT_MAX_UPLOADS, UploadSlots } from '../../src/api/uploadSlots';

describe('UploadSlots', () => {
  it('gives a tenant its cap of slots and refuses the next; other tenants are apart', () => {
    const slots = new UploadSlots(2);
    const a1 = slots.acquire('a');
    const a2 = slots.acquire('a');
    expect(a1 && a2).toBeTruthy();
    expect(slots.acquire('a')).toBeUndefined();
    expect(slots.acquire('b')).toBeDefined();
    expect(slots.count('a')).toBe(2);
    expect(slots.count('b')).toBe(1);
  });

  it('a release gives one slot back, once, however often it is called', () => {
    const slots = new UploadSlots(2);
    const a1 = slots.acquire('a')!;
    slots.acquire('a');
    a1();
    a1(); // the answer's 'finish' and the connection's 'close' both release
    expect(slots.count('a')).toBe(1);
    expect(slots.acquire('a')).toBeDefined();
    expect(slots.acquire('a')).toBeUndefined();
  });

  it('defaults to 4 per tenant', () => {
    const slots = new UploadSlots();
    expect(slots.maxPerTenant).toBe(DEFAULT_TENANT_MAX_UPLOADS);
    expect(DEFAULT_TENANT_MAX_UPLOADS).toBe(4);
    for (let i = 0; i < 4; i++) expect(slots.acquire('t')).toBeDefined();
    expect(slots.acquire('t')).toBeUndefined();
  });
});
