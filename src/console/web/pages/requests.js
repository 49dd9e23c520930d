// The Requests page (to be built).
import { notice, pageRoot, replace } from '../lib.js';

export default {
  name: 'requests',
  title: 'Requests',
  minRole: 'member',
  render(root) {
    replace(root, pageRoot('requests', 'Requests', notice('Not built yet.')));
  },
};
