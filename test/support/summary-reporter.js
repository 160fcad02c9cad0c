/**
 * Prints one closing line in the plain form CI tools read ("jest: N passed, N failed, N skipped"),
 * after Jest's own summary. Jest's default summary is not in a form every CI reader knows.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const line = `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests + results.numTodoTests} skipped`;
    // Suites that failed to run (syntax errors, setup failures) have no test counts: say so.
    const brokenSuites = results.numRuntimeErrorTestSuites;
    if (brokenSuites > 0) process.stdout.write(`jest: ${brokenSuites} test file(s) failed to run\n`);
    process.stdout.write(`\n${line}\n`);
  }
}
module.exports = SummaryReporter;
