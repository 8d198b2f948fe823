/**
 * Internal, not API: Batch Normalization's math and its passes over memory, free of DL4J and ND4J, which the
 * layer, folding and the population pass use. Public only so that those packages can reach it; it may change in
 * any release. The API is every public type outside {@code io.github.dl4jbn.internal} (docs/design.md lists it).
 */
package io.github.dl4jbn.internal.kernels;
