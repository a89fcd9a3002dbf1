/* placeholder */ typedef int placeholder_errors;
