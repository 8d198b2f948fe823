package io.github.dl4jbn.examples;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.util.Locale;
import java.util.Map;
import java.util.function.DoublePredicate;

/**
 * The ranges of the subcommands' numeric options, checked before any work starts: an option out of range is
 * a {@link CommandLine.ParameterException}, which {@link Main} prints as one line naming the option and the
 * value, with exit code 2. One table for every subcommand, by option name.
 */
final class OptionChecks {

    /** A rule: what the option's values must satisfy, in words for the message. */
    private record Rule(DoublePredicate holds, String expected) {
    }

    private static final Rule COUNT = new Rule(v -> v >= 1 && v == Math.rint(v), "at least 1");
    private static final Rule POSITIVE = new Rule(v -> v > 0 && Double.isFinite(v), "a finite number above 0");

    private static final Map<String, Rule> RULES = Map.ofEntries(
            Map.entry("--steps", COUNT), Map.entry("--eval-every", COUNT), Map.entry("--batch", COUNT),
            Map.entry("--epochs", COUNT), Map.entry("--train-limit", COUNT), Map.entry("--train-size", COUNT),
            Map.entry("--examples", COUNT), Map.entry("--draws", COUNT), Map.entry("--train-steps", COUNT),
            Map.entry("--probe", COUNT), Map.entry("--test-limit", COUNT), Map.entry("--population-examples", COUNT),
            Map.entry("--batch-sizes", new Rule(v -> v >= 2 && v == Math.rint(v), "at least 2 (a batch variance needs two examples)")),
            Map.entry("--ghost", new Rule(v -> v >= 2 && v == Math.rint(v), "at least 2 examples per ghost batch")),
            Map.entry("--lr", POSITIVE), Map.entry("--base-lr", POSITIVE), Map.entry("--init-std", POSITIVE),
            Map.entry("--retain", new Rule(v -> v > 0 && v <= 1, "in (0, 1]")),
            Map.entry("--unit", new Rule(v -> v >= 0 && v < 100 && v == Math.rint(v), "a unit index from 0 to 99")));

    private OptionChecks() {
    }

    /**
     * Checks every numeric option of a parsed subcommand against its rule.
     *
     * @param spec the subcommand, after parsing
     * @throws CommandLine.ParameterException naming the first option out of range and its value
     */
    static void check(CommandSpec spec) {
        for (OptionSpec option : spec.options()) {
            Rule rule = RULES.get(option.longestName());
            Object value = option.getValue();
            if (rule == null || value == null) {
                continue;
            }
            if (value instanceof int[] values) {
                for (int v : values) {
                    require(spec, option, rule, v, String.valueOf(v));
                }
            } else if (value instanceof Number n) {
                require(spec, option, rule, n.doubleValue(), String.valueOf(value));
            }
        }
    }

    /**
     * Fails, naming the option and its value.
     *
     * @param spec     the subcommand
     * @param option   the option's name
     * @param value    its value, as given
     * @param expected what it must be
     */
    static void fail(CommandSpec spec, String option, String value, String expected) {
        throw new CommandLine.ParameterException(spec.commandLine(), String.format(Locale.ROOT,
                "%s must be %s, got %s", option, expected, value));
    }

    private static void require(CommandSpec spec, OptionSpec option, Rule rule, double v, String shown) {
        if (!rule.holds().test(v)) {
            fail(spec, option.longestName(), shown, rule.expected());
        }
    }
}
