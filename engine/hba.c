/* placeholder */ typedef int placeholder_hba;
