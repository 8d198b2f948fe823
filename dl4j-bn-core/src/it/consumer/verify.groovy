// The resolved dependency tree under dl4j-bn-core holds no ND4J backend, progressbar or XChart: a user's
// project gets only the backend it chose. Also: the consumer's tests ran and passed.
def tree = new File(basedir, 'target/dependency-tree.txt').readLines()
int start = tree.findIndexOf { it.contains('io.github.dl4jbn:dl4j-bn-core:jar') }
assert start >= 0 : 'dl4j-bn-core is not in the dependency tree'
def depth = { String line -> line.indexOf(line.find(/[a-zA-Z]/)) }
int coreDepth = depth(tree[start])
def underCore = []
for (int i = start + 1; i < tree.size() && depth(tree[i]) > coreDepth; i++) {
    underCore << tree[i]
}
def banned = underCore.findAll { it =~ /org\.nd4j:nd4j-native:|org\.nd4j:nd4j-native-platform|org\.nd4j:nd4j-cuda|me\.tongfei:progressbar|org\.knowm\.xchart/ }
assert banned.isEmpty() : "dl4j-bn-core brings what the user should choose: ${banned}"
println "dl4j-bn-core brings ${underCore.size()} dependencies, no backend, progressbar or XChart"
def report = new File(basedir, 'target/surefire-reports/TEST-consumer.ConsumerTest.xml')
assert report.exists() : 'the consumer tests did not run'
def suite = (report.text =~ /<testsuite [^>]*/)[0]
def count = { String name -> (suite =~ /\s${name}="(\d+)"/)[0][1] as int }
def failures = (report.text =~ /<failure message="([^"]*)"/).collect { it[1] }
assert count('failures') == 0 && count('errors') == 0 : "consumer tests failed: ${failures}"
println "consumer tests: ${count('tests')} passed"

return true
