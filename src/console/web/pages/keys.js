// The Tenants and keys page (to be built).
import { notice, pageRoot, replace } from '../lib.js';

export default {
  name: 'keys',
  title: 'Tenants and keys',
  minRole: 'admin',
  render(root) {
    replace(root, pageRoot('keys', 'Tenants and keys', notice('Not built yet.')));
  },
};
