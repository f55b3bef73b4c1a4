// Starts ONE in-process Elasticsearch node via org.codelibs:elasticsearch-cluster-runner
// (the 7.10.2.0 / 6.8.9.0 releases on Maven Central) on a fixed HTTP port.
//
// Why a wrapper instead of the runner's own main(): the runner's main() only probes
// HTTP ports up to a hard-coded maxHttpPort=9299 and silently moves to the next port
// when the wanted one is busy. setMaxHttpPort(-1) makes it take exactly
// baseHttpPort + 1, so a busy port fails loudly (BindException) instead.
//
// Run (Java 11+ single-file source launch, no javac step):
//   java -cp 'LIB/*' DirsrvbeatEsRunner.java -basePath DIR -numOfNode 1 -baseHttpPort $((PORT-1)) ...
import org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner;

public class DirsrvbeatEsRunner {
    public static void main(final String[] args) throws Exception {
        final ElasticsearchClusterRunner runner = new ElasticsearchClusterRunner();
        runner.setMaxHttpPort(-1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final Exception e) {
                System.err.println("close failed: " + e);
            }
        }));
        try {
            runner.build(args);
        } catch (final RuntimeException e) {
            e.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
        while (!runner.isClosed()) {
            Thread.sleep(2000);
        }
    }
}
