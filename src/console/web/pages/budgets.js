// The Budgets page (to be built).
import { notice, pageRoot, replace } from '../lib.js';

export default {
  name: 'budgets',
  title: 'Budgets',
  minRole: 'member',
  render(root) {
    replace(root, pageRoot('budgets', 'Budgets', notice('Not built yet.')));
  },
};
