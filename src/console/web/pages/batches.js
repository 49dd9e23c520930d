// The Batches page (to be built).
import { notice, pageRoot, replace } from '../lib.js';

export default {
  name: 'batches',
  title: 'Batches',
  minRole: 'member',
  render(root) {
    replace(root, pageRoot('batches', 'Batches', notice('Not built yet.')));
  },
};
