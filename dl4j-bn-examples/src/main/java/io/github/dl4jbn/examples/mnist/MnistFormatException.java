package io.github.dl4jbn.examples.mnist;

import java.io.IOException;

/** A MNIST idx file that is missing, malformed or not the expected file; the message names the file. */
public class MnistFormatException extends IOException {

    /**
     * @param message what is wrong, naming the file
     */
    public MnistFormatException(String message) {
        super(message);
    }
}
