package io.github.dl4jbn.internal.kernels;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.InvocationTargetException;

/**
 * Chooses the FLOAT loops once per JVM, logs one line, and falls back in order, as Lucene's
 * VectorizationProvider does. The Vector API is an incubator module ({@code --add-modules jdk.incubator.vector});
 * how it reaches native memory depends on the JDK:
 *
 * <ol>
 *   <li>{@link VectorLoops}, the Vector API loops, on JDK 17 and 18 (NIO buffers) and on JDK 22 and later
 *       (memory segments, final from 22; {@link VectorMemory}'s version in the multi-release part of the jar,
 *       {@code META-INF/versions/22}).</li>
 *   <li>Otherwise (no module, JDK 19 to 21 whose memory API is a preview, a classpath that is not the
 *       multi-release jar, or loops that cannot load): {@link HeapLoops}, plain Java through heap chunks.</li>
 * </ol>
 *
 * <p>{@code -Ddl4jbn.kernels=plain} ({@link KernelSetting}) forces the plain loops; {@code -Ddl4jbn.kernels=nd4j}
 * is the layer's business (ND4J's own ops) and leaves this choice as it is.
 */
final class KernelProvider {

    private static final Logger log = LoggerFactory.getLogger(KernelProvider.class);

    private static final FloatPasses<?> PLAIN = new FloatPasses<>(new HeapLoops(FloatCodec.FLOAT), FloatCodec.FLOAT,
            "plain Java");
    private static final FloatPasses<?> BEST = choose();

    private KernelProvider() {
    }

    /** @return the FLOAT passes chosen for this JVM */
    static FloatPasses<?> bestFloat() {
        return BEST;
    }

    /** @return the plain Java FLOAT passes, which every JVM runs */
    static FloatPasses<?> plainFloat() {
        return PLAIN;
    }

    /** One candidate: a loops class and the name it is logged under. */
    record Candidate(String className, String name) {
    }

    /**
     * The Vector API loops this JDK could run.
     *
     * @param feature the JDK's feature version
     * @param module  whether jdk.incubator.vector is in the JVM
     * @return the candidate, or null when only the plain loops can run
     */
    static Candidate candidate(int feature, boolean module) {
        if (!module || (feature > 18 && feature < 22)) {
            return null;
        }
        return new Candidate("io.github.dl4jbn.internal.kernels.VectorLoops", feature <= 18
                ? "JDK Vector API on NIO buffers" : "JDK Vector API on memory segments");
    }

    private static FloatPasses<?> choose() {
        boolean plain = KernelSetting.current() == KernelSetting.PLAIN;
        boolean module = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        int feature = Runtime.version().feature();
        FloatPasses<?> chosen = PLAIN;
        String why = "";
        if (plain) {
            why = " (-D" + KernelSetting.PROPERTY + "=plain)";
        } else if (!module) {
            why = " (start the JVM with --add-modules jdk.incubator.vector for the Vector API loops)";
        } else {
            Candidate candidate = candidate(feature, true);
            FloatPasses<?> loaded = candidate == null ? null : load(candidate);
            if (loaded != null) {
                chosen = loaded;
            }
            if (chosen == PLAIN && feature >= 19 && feature <= 21) {
                why = " (JDK " + feature + "'s Vector API reaches native memory only through a preview API; JDK 17, 18"
                        + " or 22+ run the Vector API loops)";
            }
        }
        log.info("dl4j-bn FLOAT kernels: {}{}; this machine's vectors hold {} floats; up to {} thread(s) per pass"
                        + " (-Ddl4jbn.threads)", chosen.name(), why,
                module ? String.valueOf(VectorLoops.S.length()) : "(unknown without jdk.incubator.vector)",
                PassThreads.parallelism());
        return chosen;
    }

    /**
     * The passes over a loops class, or null, with a warning, when it cannot load or run on this JVM (its
     * constructor checks what it needs).
     *
     * @param candidate the loops class and its name
     * @return the passes, or null
     */
    static FloatPasses<?> load(Candidate candidate) {
        try {
            FloatLoops<?> loops = (FloatLoops<?>) Class.forName(candidate.className()).getDeclaredConstructor().newInstance();
            String name = loops instanceof VectorLoops ? VectorMemory.name() : candidate.name();
            if (!name.equals(candidate.name())) {
                throw new UnsupportedOperationException("found " + name + ", not " + candidate.name()
                        + ": the classpath holds no multi-release jar (a classes directory, or a jar built without JDK 22)");
            }
            return new FloatPasses<>(loops, FloatCodec.FLOAT, name);
        } catch (UnsupportedOperationException e) {
            log.warn("dl4j-bn: the {} loops cannot run here ({}); trying the next", candidate.name(), e.getMessage());
            return null;
        } catch (InvocationTargetException e) {
            log.warn("dl4j-bn: the {} loops cannot run here ({}); trying the next", candidate.name(), e.getCause().getMessage());
            return null;
        } catch (ReflectiveOperationException | LinkageError e) {
            log.warn("dl4j-bn: the {} loops failed to load ({}); trying the next", candidate.name(), e.toString());
            return null;
        }
    }
}
