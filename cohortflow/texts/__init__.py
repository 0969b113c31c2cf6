"""The service's phrases (:mod:`cohortflow.domain.phrases`) said in the reader's language."""
