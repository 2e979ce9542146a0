"""Files the run reads or writes itself: gzip judged from the bytes, and files of its own kept private."""
