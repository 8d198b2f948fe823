package io.github.dl4jbn.internal.kernels;

import java.util.Locale;

/**
 * Which kernels {@code -Ddl4jbn.kernels} asks for, read once per JVM: the only place that property is parsed.
 * An unknown value is an error at the first layer call, naming the accepted ones.
 */
public enum KernelSetting {
    /** The default: the fastest loops this JVM runs on ND4J's CPU backend, ND4J's ops on any other backend. */
    AUTO,
    /** The plain Java loops, which every JVM runs (the loops a JVM without the Vector API module gets). */
    PLAIN,
    /** ND4J's own ops, on any backend (the path a device backend takes). */
    ND4J;

    /** The system property. */
    public static final String PROPERTY = "dl4jbn.kernels";

    private static final String RAW = System.getProperty(PROPERTY, "").trim();
    private static final KernelSetting VALUE = parseOrNull(RAW);

    /**
     * @return this JVM's setting
     * @throws IllegalArgumentException if {@code -Ddl4jbn.kernels} holds another value than auto, plain or nd4j
     */
    public static KernelSetting current() {
        return VALUE != null ? VALUE : of(RAW);
    }

    /**
     * The setting a property value names.
     *
     * @param value the property's value; empty for the default
     * @return the setting
     * @throws IllegalArgumentException naming the accepted values, if it names none
     */
    public static KernelSetting of(String value) {
        KernelSetting setting = parseOrNull(value);
        if (setting == null) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + value + " is not a kernel choice: use auto (the"
                    + " default), plain or nd4j");
        }
        return setting;
    }

    private static KernelSetting parseOrNull(String value) {
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "", "auto" -> AUTO;
            case "plain" -> PLAIN;
            case "nd4j" -> ND4J;
            default -> null;
        };
    }
}
