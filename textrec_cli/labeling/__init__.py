"""The labeling loop: production images out to Label Studio, checked transcriptions back in."""
